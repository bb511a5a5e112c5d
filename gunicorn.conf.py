"""gunicorn settings; TRANSIT_BIND and WEB_CONCURRENCY override the address and workers."""

import multiprocessing
import os
from typing import Any

bind = os.environ.get("TRANSIT_BIND", "127.0.0.1:8000")
# memory:// rate limits live in each worker, so every worker lets the full limit through.
# (TRANSIT_ENV=production refuses memory://.)
limits_storage = os.environ.get("TRANSIT_RATELIMIT_STORAGE_URI") or "memory://"
limits_per_worker = limits_storage.startswith("memory")
if "WEB_CONCURRENCY" in os.environ:
    workers = int(os.environ["WEB_CONCURRENCY"])
elif limits_per_worker:
    # One worker, so that the limits hold as written; sync is enough for one developer.
    workers = 1
else:
    # The usual 2 x cores + 1: requests wait on the database more than on the CPU.
    workers = multiprocessing.cpu_count() * 2 + 1
# gunicorn's sync worker, answering its own refusals (414, 431, 400) in problem+json like the
# app. With --threads, gunicorn swaps it for its plain gthread worker: pass
# --worker-class api.serving.ProblemThreadWorker as well.
worker_class = "api.serving.ProblemSyncWorker"
timeout = 30
graceful_timeout = 30
keepalive = 5
max_requests = 10_000
max_requests_jitter = 1_000
accesslog = "-"
errorlog = "-"
logger_class = "api.gunicorn_logging.JsonAccessLogger"
# Each worker builds its own app (and database pool) after the fork.
preload_app = False


def when_ready(server: Any) -> None:
    base = "http://" + bind
    server.log.info(
        "serving on %s  (API docs: %s/api/docs, OpenAPI: %s/api/openapi.json, "
        "routes: %s/api/v1/routes, readiness: %s/readyz)",
        base,
        base,
        base,
        base,
        base,
    )
    if not limits_per_worker:
        return
    count = server.cfg.workers
    if count > 1:
        server.log.warning(
            "rate limits are per worker with memory:// storage: %d workers let %d times the "
            "configured requests through; share them with "
            "TRANSIT_RATELIMIT_STORAGE_URI=redis://host:6379",
            count,
            count,
        )
    else:
        server.log.info(
            "rate limits are per worker with memory:// storage, so this runs 1 worker; for "
            "more, share the limits with TRANSIT_RATELIMIT_STORAGE_URI=redis://host:6379 and "
            "set WEB_CONCURRENCY"
        )
