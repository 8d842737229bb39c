"""Ground truth joined to predictions: feedback labels keyed by prediction id, and reading
the prediction log back (with the latest label per prediction) for monitoring.

Every item of a feedback request is checked before anything is written, and the labels
go in one transaction; ids not (yet) in the log are stored too (the log is written off
the request path and may lag) and reported back, so a caller can spot typos.
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import RequestError, ValidationError
from gapless.serving.log_rows import ID_PATTERN, LIMITS, to_json
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import feedback, predictions

MAX_FEEDBACK_ITEMS = 10_000
_IN_CHUNK = 500


def record_feedback(store: MetadataStore, endpoint: str, items: list[dict]) -> dict[str, Any]:
    """Store ground-truth labels, ``[{"prediction_id": ..., "label": ...}]``, in one transaction.

    Every item is checked before anything is written (RequestError naming the item: 400
    for a malformed item, 422 for an unusable value, 413 for more than
    ``MAX_FEEDBACK_ITEMS``). Labels for ids not (yet) logged for ``endpoint`` are stored
    too and listed in ``unknown_ids``; a later label for the same id supersedes earlier ones.
    """
    if not isinstance(endpoint, str) or not 0 < len(endpoint) <= LIMITS["endpoint"]:
        raise RequestError(f"feedback: endpoint {endpoint!r} is not an endpoint name")
    if not isinstance(items, list):
        raise RequestError(f"endpoint {endpoint!r} feedback: expected a list of "
                           f"{{prediction_id, label}} objects, got {type(items).__name__}")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise RequestError(f"endpoint {endpoint!r} feedback: {len(items)} items, at most "
                           f"{MAX_FEEDBACK_ITEMS} per request; send them in batches", status=413)
    now = time.time()
    rows = [_feedback_row(endpoint, index, item, now) for index, item in enumerate(items)]
    ids = list(dict.fromkeys(row["prediction_id"] for row in rows))

    def work(conn: sa.Connection) -> list[str]:
        if rows:
            conn.execute(sa.insert(feedback), rows)
        known: set[str] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start:start + _IN_CHUNK]
            known.update(conn.execute(sa.select(predictions.c.prediction_id).where(
                predictions.c.endpoint == endpoint,
                predictions.c.prediction_id.in_(chunk))).scalars())
        return [pid for pid in ids if pid not in known]

    unknown = store.write(work)
    return {"accepted": len(rows), "unknown_ids": unknown}


def _feedback_row(endpoint: str, index: int, item: Any, now: float) -> dict[str, Any]:
    where = f"endpoint {endpoint!r} feedback item {index}"
    if not isinstance(item, dict):
        raise RequestError(f"{where}: expected an object with prediction_id and label, got "
                           f"{type(item).__name__}", row=index)
    missing = [key for key in ("prediction_id", "label") if key not in item]
    extra = sorted(str(key) for key in item if key not in ("prediction_id", "label"))
    if missing or extra:
        problem = (f"missing {', '.join(missing)}" if missing
                   else f"unknown key {', '.join(map(repr, extra))}")
        raise RequestError(f"{where}: {problem}; expected exactly prediction_id and label",
                           row=index, field=(missing or extra)[0])
    pid = item["prediction_id"]
    if not isinstance(pid, str) or not ID_PATTERN.fullmatch(pid):
        raise RequestError(f"{where}: prediction_id {pid!r} is not an id; expected the 32 "
                           "characters returned with the prediction", status=422, row=index,
                           field="prediction_id")
    label = to_json(item["label"])
    if label == "null":
        raise RequestError(f"{where}: label is null or NaN; send the observed value",
                           status=422, row=index, field="label")
    return {"prediction_id": pid, "endpoint": endpoint, "label_json": label, "created_at": now}


def read_predictions(
    store: MetadataStore,
    endpoint: str,
    *,
    since: float | None = None,
    until: float | None = None,
    limit: int | None = None,
    with_labels: bool = False,
) -> list[dict[str, Any]]:
    """Predictions of ``endpoint`` with ``since <= created_at < until``, newest last.

    With ``limit``, the newest ``limit`` of them. With ``with_labels``, each dict also has
    ``label`` and ``labeled_at``: the latest feedback for that id on this endpoint, or None
    (a primary and its shadows share the id, so they share the label).
    """
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValidationError(f"limit: expected a positive integer or None, got {limit!r}")
    p = predictions
    columns: list[Any] = [p]
    source: Any = p
    if with_labels:
        latest = (sa.select(sa.func.max(feedback.c.id))
                  .where(feedback.c.prediction_id == p.c.prediction_id,
                         feedback.c.endpoint == endpoint)
                  .scalar_subquery())
        fb = feedback.alias("fb")
        source = p.outerjoin(fb, fb.c.id == latest)
        columns += [fb.c.label_json, fb.c.created_at.label("labeled_at")]
    stmt = sa.select(*columns).select_from(source).where(p.c.endpoint == endpoint)
    if since is not None:
        stmt = stmt.where(p.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(p.c.created_at < until)
    stmt = stmt.order_by(p.c.created_at.desc(), p.c.prediction_id.desc(), p.c.variant.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    with store.read() as conn:
        found = conn.execute(stmt).mappings().all()
    return [_prediction(row, with_labels) for row in reversed(found)]


def _prediction(row: Any, with_labels: bool) -> dict[str, Any]:
    out = {key: row[key] for key in ("prediction_id", "endpoint", "model", "version", "variant",
                                     "role", "latency_ms", "status", "created_at")}
    out["inputs"] = json.loads(row["inputs_json"])
    out["outputs"] = json.loads(row["outputs_json"])
    found = row["probabilities_json"]
    out["probabilities"] = None if found is None else json.loads(found)
    if with_labels:
        label = row["label_json"]
        out["label"] = None if label is None else json.loads(label)
        out["labeled_at"] = row["labeled_at"]
    return out


