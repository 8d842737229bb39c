"""The serving engine: deployments in, predictions out, no HTTP.

Every worker holds one :class:`Engine`. It polls the endpoints' deployment revisions
(one small query) at most every ``poll_interval`` seconds; when one changed, it loads
the new variants' models first and only then swaps the routing table in one assignment,
so requests already running finish on the old version and none waits for a load. A
request is routed (sticky by key), predicted by the answering variant, and logged off
the request path; shadows get the same rows in a background thread and are only logged.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from gapless.core.errors import ConfigError, GaplessError, NotFoundError
from gapless.serving.deployments import Deployment, DeploymentStore, Variant, route
from gapless.serving.predictor import LoadedModel, Predictor


@dataclass(frozen=True)
class LiveDeployment:
    """A deployment whose every variant is loaded: what requests are routed through."""

    deployment: Deployment
    models: dict[str, LoadedModel]  # variant name -> loaded model


@dataclass(frozen=True)
class Answer:
    ids: list[str]
    predictions: Any
    probabilities: Any
    model: LoadedModel
    variant: str
    latency_ms: float
    # Rows whose online features fell back to the policy, per (view ref, reason).
    fallbacks: Any = None


class Engine:
    def __init__(self, deployments: DeploymentStore, predictor: Predictor, *,
                 log: Any = None, poll_interval: float = 1.0,
                 shadow_pool: Any = None, features: Any = None) -> None:
        self.deployments = deployments
        self.predictor = predictor
        self.features = features  # FeatureFetcher, for models trained on feature views
        self._active = 0  # requests in predict_async now (this event loop's)
        self.log = log  # gapless.serving.prediction_log.PredictionLog, or None
        self.poll_interval = poll_interval
        self._live: dict[str, LiveDeployment] = {}
        self._checked = 0.0
        self._refresh_lock = threading.Lock()
        self._shadows = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gapless-shadow")
        # With a pool (the server), predict_async sends shadows to a child process instead.
        self.shadow_pool = shadow_pool  # gapless.serving.shadows.ShadowPool
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    # -- deployments ----------------------------------------------------------------
    def refresh(self, *, force: bool = False) -> bool:
        """Pick up changed deployments (loading their models first); True if any changed."""
        now = time.monotonic()
        if not force and now - self._checked < self.poll_interval:
            return False
        if not self._refresh_lock.acquire(blocking=False):
            return False  # another thread is refreshing; keep serving the current table
        try:
            self._checked = now
            revisions = self.deployments.revisions()
            live = dict(self._live)
            changed = False
            for endpoint, revision in revisions.items():
                current = live.get(endpoint)
                if current is not None and current.deployment.revision == revision:
                    continue
                deployment = self.deployments.get(endpoint)
                live[endpoint] = LiveDeployment(deployment, {
                    v.name: self.predictor.load(v.model, v.runtime)
                    for v in deployment.spec.variants})
                changed = True
            for endpoint in set(live) - set(revisions):
                del live[endpoint]
                changed = True
            if changed:
                self._live = live  # one assignment: requests see the old or the new table
                self.predictor.keep_only(m.key for d in live.values()
                                         for m in d.models.values())
            return changed
        finally:
            self._refresh_lock.release()

    def live(self, endpoint: str) -> LiveDeployment:
        self.refresh()
        found = self._live.get(endpoint)
        if found is None:
            raise NotFoundError(f"no deployment on endpoint {endpoint!r}; deploy a model with "
                                f"`gapless deploy {endpoint} --model NAME@VERSION`")
        return found

    @property
    def endpoints(self) -> dict[str, LiveDeployment]:
        return dict(self._live)

    # -- predicting -----------------------------------------------------------------
    def predict(self, endpoint: str, frame: Any, *, key: str | None = None,
                probabilities: bool = True) -> Answer:
        """Route, predict and log one request of one or more rows (each row's inputs are
        turned into JSON later, by the log's writer thread, not here). A model that fails
        on valid rows is logged as status 500 for the canary's error-rate guardrail."""
        live, variant, model = self._route(endpoint, key)
        started = time.perf_counter()
        request = frame
        try:
            frame, fallbacks = self._fill(live, model, request)
            predictions, probabilities = model.predict(_own_columns(frame, model),
                                                       probabilities=probabilities)
        except Exception as exc:
            self._failed(endpoint, variant, model, frame, started, exc)
            raise
        return self._answered(endpoint, live, variant, model, frame, predictions,
                              probabilities, (time.perf_counter() - started) * 1000.0,
                              request=request, fallbacks=fallbacks)

    async def predict_async(self, endpoint: str, frame: Any, *, key: str | None = None,
                            probabilities: bool = True) -> Answer:
        """:meth:`predict` for the server: the model runs in its micro-batching thread
        (joined with concurrent requests), so the event loop keeps parsing meanwhile."""
        self._active += 1
        try:
            return await self._predict_async(endpoint, frame, key, probabilities)
        finally:
            self._active -= 1

    async def _predict_async(self, endpoint: str, frame: Any, key: str | None,
                             probabilities: bool) -> Answer:
        live, variant, model = self._route(endpoint, key)
        if model.batcher is None:
            if model.features is not None:  # fetching may wait on the network
                return await asyncio.to_thread(self.predict, endpoint, frame, key=key,
                                               probabilities=probabilities)
            return self.predict(endpoint, frame, key=key, probabilities=probabilities)
        started = time.perf_counter()
        request = frame
        try:
            frame, fallbacks = await self._fill_async(live, model, request)
            fetched_ms = (time.perf_counter() - started) * 1000.0
            predictions, probabilities, latency = await model.batcher.predict(
                _own_columns(frame, model), probabilities=probabilities)
            latency += fetched_ms
        except Exception as exc:
            self._failed(endpoint, variant, model, frame, started, exc)
            raise
        answer = self._answered(endpoint, live, variant, model, frame, predictions,
                                probabilities, latency, shadows=self.shadow_pool is None,
                                request=request, fallbacks=fallbacks)
        if self.shadow_pool is not None:
            for shadow in live.deployment.spec.variants:
                if shadow.role == "shadow" and self.shadow_pool.admit():
                    task = asyncio.create_task(self._remote_shadow(
                        live, shadow, model, request, frame, answer.ids))
                    self._shadow_tasks.add(task)
                    task.add_done_callback(self._shadow_tasks.discard)
        return answer

    async def _remote_shadow(self, live: LiveDeployment, variant: Variant,
                             primary: LoadedModel, request: Any, filled: Any,
                             ids: list[str]) -> None:
        assert self.shadow_pool is not None
        endpoint, model, frame = live.deployment.endpoint, live.models[variant.name], filled
        try:
            if _fetches_own(model, primary):
                frame, _ = await self._fill_async(live, model, request)
            batcher = self.shadow_pool.batcher(model.version.ref, model.runtime)
            predictions, _, latency = await batcher.predict(_own_columns(frame, model),
                                                            probabilities=False)
            status = 200
        except Exception:  # noqa: BLE001 - a failing shadow never affects the caller
            predictions, latency, status = [None] * len(request), 0.0, 500
        finally:
            self.shadow_pool.done()
        self._log(endpoint, variant, model, ids, frame, predictions, latency, "shadow",
                  status=status, request=request)

    async def drain_shadows(self, timeout: float = 10.0) -> None:
        """Wait (up to ``timeout`` seconds) for shadow copies still being predicted."""
        if self._shadow_tasks:
            await asyncio.wait(list(self._shadow_tasks), timeout=timeout)

    def _failed(self, endpoint: str, variant: Variant, model: LoadedModel, frame: Any,
                started: float, exc: Exception) -> None:
        if isinstance(exc, GaplessError):  # the request's fault (4xx), not the model's
            return
        from gapless.serving.prediction_log import new_prediction_id

        self._log(endpoint, variant, model, [new_prediction_id() for _ in range(len(frame))],
                  frame, [None] * len(frame), (time.perf_counter() - started) * 1000.0,
                  "primary", status=500)

    def _route(self, endpoint: str, key: str | None) -> tuple[LiveDeployment, Variant,
                                                              LoadedModel]:
        live = self.live(endpoint)
        chosen = route(live.deployment.spec, key=key)
        return live, chosen.answer, live.models[chosen.answer.name]

    def _answered(self, endpoint: str, live: LiveDeployment, variant: Variant,
                  model: LoadedModel, frame: Any, predictions: Any, probabilities: Any,
                  latency: float, *, shadows: bool = True, request: Any = None,
                  fallbacks: Any = None) -> Answer:
        """Log the answer and hand the shadows their copy: ``frame`` is what ``model``
        took (the request plus any fetched features), ``request`` what the client sent
        (a shadow trained on other feature views fetches its own from it)."""
        from gapless.serving.prediction_log import new_prediction_id

        ids = [new_prediction_id() for _ in range(len(frame))]
        self._log(endpoint, variant, model, ids, frame, predictions, latency, "primary",
                  probabilities=probabilities, request=request)
        for shadow in live.deployment.spec.variants if shadows else ():
            if shadow.role == "shadow":
                self._shadows.submit(self._run_shadow, live, shadow, model,
                                     frame if request is None else request, frame, ids)
        return Answer(ids, predictions, probabilities, model, variant.name, latency,
                      fallbacks)

    def _run_shadow(self, live: LiveDeployment, variant: Variant, primary: LoadedModel,
                    request: Any, filled: Any, ids: list[str]) -> None:
        endpoint, model, frame = live.deployment.endpoint, live.models[variant.name], filled
        started = time.perf_counter()
        try:
            if _fetches_own(model, primary):
                frame, _ = self._fill(live, model, request)
            predictions, _ = model.predict(_own_columns(frame, model), probabilities=False)
            status = 200
        except Exception:  # noqa: BLE001 - a failing shadow never affects the caller
            predictions, status = [None] * len(request), 500
        latency = (time.perf_counter() - started) * 1000.0
        self._log(endpoint, variant, model, ids, frame, predictions, latency, "shadow",
                  status=status, request=request)

    def _fill(self, live: LiveDeployment, model: LoadedModel, frame: Any) -> tuple[Any, Any]:
        """The frame ``model`` takes: ``frame`` as is, or, for a model trained on feature
        views, its inputs with the features from the online store; and the rows that fell
        back to the deployment's policy."""
        if model.features is None:
            return frame, None
        filled = self._fetcher(model).fill(frame, model.features,
                                           live.deployment.spec.features)
        return filled.frame, filled.fallbacks

    async def _fill_async(self, live: LiveDeployment, model: LoadedModel,
                          frame: Any) -> tuple[Any, Any]:
        """:meth:`_fill` with the store's reads off the event loop, shared with concurrent
        requests (see FeatureFetcher.fill_async)."""
        if model.features is None:
            return frame, None
        filled = await self._fetcher(model).fill_async(
            frame, model.features, live.deployment.spec.features, alone=self._active <= 1)
        return filled.frame, filled.fallbacks

    def _fetcher(self, model: LoadedModel) -> Any:
        if self.features is None:
            raise ConfigError(f"{model.ref} was trained on feature views, but this engine "
                              "has no online store to fetch them from")
        return self.features

    def _log(self, endpoint: str, variant: Variant, model: LoadedModel, ids: list[str],
             frame: Any, predictions: Any, latency: float, role: str, *,
             status: int = 200, probabilities: Any = None, request: Any = None) -> None:
        """Log one row per id: ``frame``'s inputs, plus the columns of ``request`` (what
        the client sent, when features were fetched into ``frame``) that it lacks."""
        if self.log is None:
            return
        from gapless.serving.prediction_log import PredictionRecord

        now = time.time()
        rows = _RowsOf(frame, request)
        classes = (_plain_classes(model.classes)
                   if probabilities is not None and model.classes is not None else None)
        for index, prediction_id in enumerate(ids):
            self.log.log(PredictionRecord(
                prediction_id=prediction_id, endpoint=endpoint, model=model.version.model,
                version=model.version.version, variant=variant.name, role=role,
                inputs=rows.row(index), outputs=_plain(predictions[index]),
                latency_ms=latency, status=status, created_at=now,
                probabilities=None if classes is None else (classes, probabilities[index])))

    def close(self) -> None:
        self._shadows.shutdown(wait=True)
        if self.shadow_pool is not None:
            self.shadow_pool.close()
        self.predictor.close()
        if self.features is not None:
            self.features.close()
        if self.log is not None:
            self.log.close()


def _fetches_own(shadow: LoadedModel, primary: LoadedModel) -> bool:
    """Whether a shadow must fetch its own features: it reads other view versions than
    the primary, whose filled frame otherwise holds every column it takes."""
    return shadow.features is not None and (
        primary.features is None or shadow.features.lookups != primary.features.lookups)


def _own_columns(frame: Any, model: LoadedModel) -> Any:
    """The columns of ``frame`` ``model``'s signature lists (a canary or shadow may read
    fewer than the primary the request was checked against); all without a signature."""
    if model.signature is None:
        return frame
    names = model.signature.names
    leading = list(frame.columns[:len(names)])
    if leading == names:  # a filled frame: the inputs first, keys and logged fields after
        return frame if len(frame.columns) == len(names) else frame.iloc[:, :len(names)]
    return frame[[n for n in names if n in frame.columns]]


class _RowsOf:
    """A request's frame, turned into records once, on first use (in the log's thread);
    with ``request``, its columns the frame lacks (entity keys, logged fields) too."""

    def __init__(self, frame: Any, request: Any = None) -> None:
        self.frame, self.request, self._records = frame, request, None

    def row(self, index: int) -> Any:
        return lambda: self.records()[index]

    def records(self) -> list[dict[str, Any]]:
        # One object array: DataFrame.to_dict("records") indexes every cell through pandas
        # (about 1 ms for one 8-column row), which made the log the server's bottleneck.
        if self._records is None:
            frames = [self.frame]
            if self.request is not None and self.request is not self.frame:
                extra = [c for c in self.request.columns if c not in self.frame.columns]
                if extra:
                    frames.append(self.request[extra])
            records: list[dict[str, Any]] = [{} for _ in range(len(self.frame))]
            for part in frames:
                names = [str(name) for name in part.columns]
                for record, values in zip(records, part.to_numpy(dtype=object).tolist(),
                                          strict=True):
                    record.update(zip(names, values, strict=True))
            self._records = records
        return self._records


@functools.lru_cache(maxsize=64)
def _plain_classes(classes: tuple[Any, ...]) -> tuple[Any, ...]:
    """A model's class labels as plain Python values, once per model: NumPy scalars
    would take the JSON encoder's slow path for every logged row."""
    return tuple(_plain(label) for label in classes)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
