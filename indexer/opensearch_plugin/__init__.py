"""Java source of the casesearch-icu OpenSearch plugin, compiled by indexer.local_node."""
