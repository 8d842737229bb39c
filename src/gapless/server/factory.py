"""The app factory uvicorn imports in each worker process (``--workers N``): the settings
travel through the environment that ``gapless serve`` sets before starting uvicorn."""

from __future__ import annotations

import os

from fastapi import FastAPI

WORKSPACE = "GAPLESS_WORKSPACE"
AUTH = "GAPLESS_SERVE_AUTH"
MAX_BODY = "GAPLESS_SERVE_MAX_BODY"
MICRO_BATCH = "GAPLESS_SERVE_MICRO_BATCH"
LOG_SAMPLE_RATE = "GAPLESS_SERVE_LOG_SAMPLE_RATE"


def app() -> FastAPI:
    from gapless.server.app import MAX_BODY_BYTES, create_app
    from gapless.workspace import Workspace

    return create_app(Workspace(os.environ.get(WORKSPACE) or None),
                      auth=os.environ.get(AUTH, "1") != "0",
                      max_body_bytes=int(os.environ.get(MAX_BODY, MAX_BODY_BYTES)),
                      micro_batch=os.environ.get(MICRO_BATCH, "1") != "0",
                      log_sample_rate=float(os.environ.get(LOG_SAMPLE_RATE, "1")))
