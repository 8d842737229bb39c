"""``create_app(workspace)``: the REST skin over the serving engine.

Routes parse with the protocol modules, predict through one :class:`Engine` per process,
and answer every GaplessError through one table (``server/errors.py``), so bad input is
a 4xx JSON body that names the field and row, never a 500. Routes are ``async``; each
model predicts in its own micro-batching thread (``serving/batching.py``), which joins
concurrent requests into one call while the event loop parses the next ones
(``micro_batch=False`` predicts inline instead). More throughput comes from ``--workers``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gapless.core.errors import GaplessError, NotFoundError, RequestError
from gapless.server.auth import scope_guard
from gapless.server.errors import error_body, status_of
from gapless.server.metrics import ServerMetrics

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_FEATURE_KEYS = 1000  # entity keys in one GET /v1/features/{view}
DEFAULT_ENDPOINT = "default"
log = logging.getLogger(__name__)


def reopener(workspace: Any) -> Any:
    """A picklable call that opens ``workspace`` again in another process (the shadows'
    child): the same folder with the same stores and encryption key."""
    from functools import partial

    settings = workspace.settings
    return partial(type(workspace), str(workspace.root), metadata_uri=settings.metadata_uri,
                   artifact_uri=settings.artifact_uri,
                   artifact_options=dict(settings.artifact_options),
                   encryption_key=settings.encryption_key)


async def _drive_canaries(store: Any, interval: float) -> None:
    """Tick the canary controller every ``interval`` seconds, off the event loop (it reads
    the prediction log). Every worker ticks; the store lets one apply each step."""
    from starlette.concurrency import run_in_threadpool

    from gapless.serving.canary import CanaryController

    controller = CanaryController(store, period=interval)
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(controller.tick)
        except Exception:  # noqa: BLE001 - a failing tick must not stop serving
            log.exception("canary tick failed; retrying in %ss", interval)


def create_app(workspace: Any, *, auth: bool = True, max_body_bytes: int = MAX_BODY_BYTES,
               poll_interval: float = 1.0, log_sample_rate: float = 1.0,
               micro_batch: bool = True, canary_interval: float = 1.0,
               shadow_process: bool = True) -> FastAPI:
    from gapless.serving.deployments import DeploymentStore
    from gapless.serving.engine import Engine
    from gapless.serving.feature_lookup import FeatureFetcher
    from gapless.serving.prediction_log import PredictionLog
    from gapless.serving.predictor import Predictor
    from gapless.serving.shadows import ShadowPool

    metrics = ServerMetrics()
    deployments = DeploymentStore(workspace.metadata)
    need = scope_guard(workspace.keys if auth else None)
    state: dict[str, Any] = {}
    plans = workspace.feature_plan

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        # Created here, in the worker process, after any fork.
        engine = Engine(deployments, Predictor(workspace.models, micro_batch=micro_batch,
                                               feature_plans=plans),
                        log=PredictionLog(workspace.metadata, sample_rate=log_sample_rate)
                        if log_sample_rate > 0 else None,
                        poll_interval=poll_interval,
                        shadow_pool=ShadowPool(reopener(workspace)) if shadow_process
                        else None,
                        features=FeatureFetcher(lambda: workspace.features.online_store))
        state["engine"] = engine
        try:
            engine.refresh(force=True)
        except GaplessError as exc:  # not ready, but alive: /health/ready says why
            state["error"] = str(exc)
        canaries = (asyncio.create_task(_drive_canaries(workspace.metadata, canary_interval))
                    if canary_interval > 0 else None)
        yield
        if canaries is not None:
            canaries.cancel()
        await engine.drain_shadows()
        engine.close()

    app = FastAPI(title="gapless", version="1", lifespan=lifespan,
                  description="Predictions, feedback and deployments of gapless endpoints.")

    @app.exception_handler(GaplessError)
    async def gapless_error(request: Request, exc: GaplessError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "RequestError", "message": str(exc.errors()[:3])},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": "HTTPError", "message": exc.detail},
                            status_code=exc.status_code, headers=exc.headers)

    def engine() -> Any:
        return state["engine"]

    # -- health and metrics ---------------------------------------------------------------
    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready", tags=["health"])
    async def ready() -> JSONResponse:
        current = engine()
        try:
            current.refresh()
        except GaplessError as exc:
            state["error"] = str(exc)
        endpoints = {name: d.deployment.revision for name, d in current.endpoints.items()}
        expected = set(deployments.revisions())
        if state.get("error") or expected - set(endpoints):
            return JSONResponse({"status": "not ready", "endpoints": endpoints,
                                 "reason": state.get("error") or "models still loading"},
                                status_code=503)
        return JSONResponse({"status": "ready", "endpoints": endpoints})

    @app.get("/metrics", tags=["health"], dependencies=[Depends(need("read"))])
    async def prometheus() -> Response:
        current = engine()
        for loaded in current.predictor.loaded:
            metrics.load_seconds.labels(loaded.version.model, str(loaded.version.version)
                                        ).set(loaded.load_seconds)
        if current.log is not None:
            metrics.log_dropped.set(current.log.stats["dropped"])
            metrics.log_acknowledged.set(current.log.acknowledged)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    # -- predictions ----------------------------------------------------------------------
    async def serve(endpoint: str, request: Request, parse: Any, answer: Any,
                    route: str) -> Response:
        started = time.perf_counter()
        metrics.in_flight.inc()
        version, variant, status = "-", "-", 200
        try:
            live_deployment = engine().live(endpoint)
            spec = live_deployment.deployment.spec
            first = live_deployment.models[next(v.name for v in spec.variants
                                                if v.role == "primary")]
            if first.inputs is None:
                raise RequestError(f"{first.ref} has no signature; register it from a "
                                   "training run so requests can be checked", status=409)
            frame, key, probabilities = parse(await request.body(), first.inputs, spec)
            result = await engine().predict_async(endpoint, frame, key=key,
                                                  probabilities=probabilities)
            version, variant = str(result.model.version.version), result.variant
            metrics.observe_prediction(endpoint, result.variant, result.predictions,
                                       result.model.classes is not None)
            metrics.observe_fallbacks(endpoint, result.fallbacks)
            return answer(result)
        except GaplessError as exc:
            status = status_of(exc)
            raise
        finally:
            metrics.in_flight.dec()
            metrics.requests.labels(route, endpoint, variant, version, str(status)).inc()
            metrics.latency.labels(route, endpoint, variant).observe(
                time.perf_counter() - started)

    @app.post("/v1/endpoints/{name}/predict", tags=["predict"],
              dependencies=[Depends(need("predict"))])
    async def predict(name: str, request: Request) -> Response:
        """Native protocol: ``{"instances": [{...}]}`` or ``{"columns": [...], "data":
        [[...]]}``, optional ``key``/``keys`` for sticky routing."""
        from gapless.server.protocols.native import format_native, parse_native

        def parse(body: bytes, inputs: Any, spec: Any) -> tuple[Any, str | None, bool]:
            parsed = parse_native(body, inputs, max_bytes=max_body_bytes,
                                  unknown_categories=spec.unknown_categories,
                                  log_fields=spec.log_fields)
            return parsed.frame, parsed.keys[0] if parsed.keys else None, True

        def answer(result: Any) -> Response:
            return JSONResponse(format_native(
                result.ids, result.predictions, result.probabilities, result.model.ref,
                result.variant, classes=result.model.classes))

        return await serve(name, request, parse, answer, "predict")

    @app.get("/ping", tags=["health"])
    async def ping() -> Response:
        """MLflow's liveness probe (its clients wait on it)."""
        return Response(status_code=200)

    @app.get("/version", tags=["health"])
    async def mlflow_version() -> Response:
        from gapless import __version__

        return Response(f"gapless {__version__}", media_type="text/plain")

    @app.post("/invocations", tags=["predict"], dependencies=[Depends(need("predict"))])
    async def invocations(request: Request) -> Response:
        """MLflow's scoring protocol, served by the endpoint ``default`` (or the only one)."""
        from gapless.server.protocols.mlflow import format_mlflow, mlflow_error, parse_mlflow

        names = list(engine().endpoints) or [DEFAULT_ENDPOINT]
        endpoint = DEFAULT_ENDPOINT if DEFAULT_ENDPOINT in names or len(names) != 1 \
            else names[0]

        def parse(body: bytes, inputs: Any, spec: Any) -> tuple[Any, None, bool]:
            return parse_mlflow(body, request.headers.get("content-type"), inputs,
                                max_bytes=max_body_bytes,
                                unknown_categories=spec.unknown_categories), None, False

        try:
            return await serve(endpoint, request, parse,
                               lambda result: JSONResponse(format_mlflow(result.predictions)),
                               "invocations")
        except GaplessError as exc:
            code, body = mlflow_error(exc, status=status_of(exc))
            if isinstance(body, str):
                return Response(body, status_code=code, media_type="text/plain")
            return JSONResponse(body, status_code=code)

    # -- Open Inference Protocol v2 (KServe, Triton): a model is an endpoint -------------
    @app.get("/v2/health/live", tags=["oip-v2"])
    async def v2_live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["oip-v2"])
    async def v2_ready() -> JSONResponse:
        answer = await ready()
        is_ready = answer.status_code == 200
        return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)

    @app.get("/v2/models/{name}", tags=["oip-v2"], dependencies=[Depends(need("read"))])
    async def v2_metadata(name: str) -> JSONResponse:
        from gapless.server.protocols.oip_v2 import infer_error, model_metadata

        try:
            current = engine().live(name)
            models = list(current.models.values())
            if models[0].inputs is None:
                raise RequestError(f"{models[0].ref} has no signature", status=409)
            return JSONResponse(model_metadata(  # what requests carry (entity keys, ...)
                name, sorted({str(m.version.version) for m in models}),
                models[0].inputs.signature))
        except GaplessError as exc:
            code, body = infer_error(exc, status=status_of(exc))
            return JSONResponse(body, status_code=code)

    @app.get("/v2/models/{name}/ready", tags=["oip-v2"], dependencies=[Depends(need("read"))])
    async def v2_model_ready(name: str) -> JSONResponse:
        is_ready = name in engine().endpoints
        return JSONResponse({"name": name, "ready": is_ready},
                            status_code=200 if is_ready else 404)

    @app.post("/v2/models/{name}/infer", tags=["oip-v2"],
              dependencies=[Depends(need("predict"))])
    async def v2_infer(name: str, request: Request) -> Response:
        """Tabular inputs follow the ``content_type: "pd"`` convention (one input per
        column); the binary-tensor extension is supported in both directions."""
        from gapless.server.protocols.oip_v2 import (
            PROBABILITIES,
            format_infer,
            infer_error,
            infer_outputs,
            parse_infer,
        )

        parsed: dict[str, Any] = {}

        def parse(body: bytes, inputs: Any, spec: Any) -> tuple[Any, None, bool]:
            infer = parse_infer(body, request.headers, inputs, max_bytes=max_body_bytes,
                                unknown_categories=spec.unknown_categories)
            parsed["request"], parsed["inputs"] = infer, inputs
            wanted = infer.outputs_requested
            return infer.frame, None, wanted is None or PROBABILITIES in wanted

        def answer(result: Any) -> Response:
            infer = parsed["request"]
            outputs = infer_outputs(parsed["inputs"], result.predictions,
                                    result.probabilities, infer.outputs_requested)
            body, headers = format_infer(name, str(result.model.version.version), infer.id,
                                         outputs, infer.binary_outputs)
            media_type = headers.pop("Content-Type", "application/json")
            return Response(body, headers=headers, media_type=media_type)

        try:
            return await serve(name, request, parse, answer, "v2-infer")
        except GaplessError as exc:
            code, body = infer_error(exc, status=status_of(exc))
            return JSONResponse(body, status_code=code)

    @app.post("/v1/endpoints/{name}/feedback", tags=["predict"],
              dependencies=[Depends(need("predict"))])
    async def feedback(name: str, request: Request) -> dict[str, Any]:
        """Ground truth: ``{"feedback": [{"prediction_id": ..., "label": ...}, ...]}``."""
        from gapless.server.protocols.native import load_json
        from gapless.serving.feedback import record_feedback

        payload = load_json(await request.body(), max_bytes=max_body_bytes)
        items = payload.get("feedback") if isinstance(payload, dict) else payload
        return record_feedback(workspace.metadata, name, items)

    # -- deployments ----------------------------------------------------------------------
    @app.get("/v1/endpoints/{name}/deployment", tags=["deploy"],
             dependencies=[Depends(need("read"))])
    async def get_deployment(name: str) -> dict[str, Any]:
        current = deployments.get(name)
        return {"endpoint": name, "revision": current.revision,
                "spec": current.spec.model_dump(mode="json"),
                "updated_by": current.updated_by, "updated_at": current.updated_at}

    @app.put("/v1/endpoints/{name}/deployment", tags=["deploy"],
             dependencies=[Depends(need("deploy"))])
    async def put_deployment(name: str, request: Request) -> dict[str, Any]:
        """Apply a deployment spec; every worker picks it up within a second."""
        from gapless.server.protocols.native import load_json
        from gapless.serving.deployments import load_spec

        payload = load_json(await request.body(), max_bytes=max_body_bytes)
        if not isinstance(payload, dict):
            raise RequestError("send a deployment spec as a JSON object", status=400)
        reason = payload.pop("reason", None)
        expected = payload.pop("expected_revision", None)
        spec = load_spec(payload)
        for variant in spec.variants:
            try:
                workspace.models.get(variant.model)
            except NotFoundError as exc:
                raise RequestError(f"variant {variant.name!r}: {exc}", status=422,
                                   field="model") from exc
        workspace.check_deployment(spec)
        applied = deployments.put(name, spec, reason=reason, expected_revision=expected)
        return {"endpoint": name, "revision": applied.revision}

    # -- online features ------------------------------------------------------------------
    @app.get("/v1/features/{view}", tags=["features"], dependencies=[Depends(need("read"))])
    def online_features(view: str, key: list[str] = Query(default_factory=list),
                        features: str | None = None) -> dict[str, Any]:
        """The online values of feature view ``view`` for each ``key`` (repeat it; at most
        1,000; a compound key as parts joined by ``|``), ``features`` comma-separated
        (default: all of the view's)."""
        if not key or len(key) > MAX_FEATURE_KEYS:
            raise RequestError(f"give 1 to {MAX_FEATURE_KEYS} entity keys as ?key=...",
                               status=400, field="key")
        names = [f"{view}:{n.strip()}" for n in features.split(",") if n.strip()] \
            if features else [view]
        keys = [tuple(k.split("|")) if "|" in k else k for k in key]
        rows = workspace.features.online(keys, names)
        return {"view": view, "rows": [{"key": k, "features": r}
                                       for k, r in zip(key, rows, strict=True)]}

    from gapless.ui import mount_dashboard

    mount_dashboard(app, workspace, need, auth=auth)  # GET /ui, /ui/endpoints/{name}, /ui/api/...
    return app
