"""``zsner serve``: a trained tagger over HTTP (optional extra ``serve``: FastAPI + uvicorn).

Modules, in data-flow order: limits (every bound, one flag each), requests (a ``POST /tag`` body: content type,
size, UTF-8, JSON, fields, each text checked as ``zsner tag`` checks it -> 4xx with a one-line JSON error),
batching (requests that arrive together tagged in one batch by one worker thread), page (the page at ``GET /``),
app (the FastAPI app: endpoints, one log line per request), cli.
"""
