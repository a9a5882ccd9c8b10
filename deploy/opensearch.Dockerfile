# The official image with the plugins the analyzers need. Where the plugin ZIPs are served
# (the official image's own install command reaches them), this is all it takes.
ARG OPENSEARCH_VERSION=3.8.0
FROM opensearchproject/opensearch:${OPENSEARCH_VERSION}
RUN /usr/share/opensearch/bin/opensearch-plugin install --batch analysis-phonetic analysis-icu
