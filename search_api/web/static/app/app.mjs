// Progressive enhancement only: every page works without this file.
import { initAll } from '/static/govuk/govuk-frontend.min.js'

initAll()

// "Select all" / "Clear" for the audit log's event checkboxes.
for (const button of document.querySelectorAll('[data-app-check-all]')) {
  button.hidden = false
  button.addEventListener('click', () => {
    const group = document.getElementById(button.getAttribute('data-app-check-all'))
    if (!group) return
    const boxes = group.querySelectorAll('input[type="checkbox"]')
    const anyUnchecked = Array.from(boxes).some((box) => !box.checked)
    for (const box of boxes) box.checked = anyUnchecked
  })
}
