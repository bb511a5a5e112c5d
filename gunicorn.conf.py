"""gunicorn settings; TRANSIT_BIND and WEB_CONCURRENCY override the address and workers."""

import multiprocessing
import os
from typing import Any

bind = os.environ.get("TRANSIT_BIND", "127.0.0.1:8000")
# The usual 2 x cores + 1: requests wait on the database more than on the CPU.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
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
