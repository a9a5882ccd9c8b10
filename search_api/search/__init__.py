"""Search: read the request, retrieve from OpenSearch, re-score with the linkage model, group
by identity. Public surface:

* ``SearchRequest`` / ``SearchResponse``: the API models;
* ``run_search(request, env)`` with ``SearchEnv`` (client, index prefix, principal, params);
* ``SearchUnavailable``: OpenSearch did not answer (the API answers 503);
* ``parse_free_text``: "jon smyth 2015 LS9" -> names, date, postcode, identifier.
"""

from search_api.search.models import SearchRequest, SearchResponse, SearchResult
from search_api.search.parsing import FreeText, parse_free_text
from search_api.search.service import SearchEnv, SearchUnavailable, run_search

__all__ = [
    "FreeText",
    "SearchEnv",
    "SearchRequest",
    "SearchResponse",
    "SearchResult",
    "SearchUnavailable",
    "parse_free_text",
    "run_search",
]
