FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY indexer indexer
COPY search_api search_api
COPY linkage linkage
COPY analyzers analyzers
COPY schemas schemas
COPY workers workers
RUN pip install --no-cache-dir .
RUN useradd -r -m casesearch && mkdir -p /var/lib/casesearch && chown casesearch /var/lib/casesearch
USER casesearch
EXPOSE 8000
