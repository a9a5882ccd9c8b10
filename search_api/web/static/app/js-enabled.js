// Loaded first in <body>: lets GOV.UK Frontend style components for JavaScript before they
// initialise (the inline snippet of the GOV.UK page template, as a file for the CSP).
document.body.className += ' js-enabled' +
  ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '')
