"""The inputs an endpoint logged over a period, as a DataFrame (for drift against a
reference sample).

Only primary predictions count (shadows saw the same inputs). The log is read as a
stream, newest first, and stops at ``limit`` rows (default 200,000), so memory stays
bounded however busy the endpoint was; the caller is told when the cap cut the period.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import sqlalchemy as sa

from gapless.core.errors import ValidationError
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import predictions

if TYPE_CHECKING:
    import pandas as pd

ROW_LIMIT = 200_000
STREAM_ROWS = 20_000


def logged_inputs(store: MetadataStore, endpoint: str, *, since: float | None = None,
                  until: float | None = None, limit: int = ROW_LIMIT,
                  when: bool = False) -> tuple[pd.DataFrame, bool]:
    """The logged inputs of ``endpoint``'s primary predictions in ``[since, until)``, one
    row per request (records that are not a mapping of feature to value are skipped),
    and whether ``limit`` cut the period (then the newest ``limit`` rows are kept).
    ``when``: index the rows by prediction id and add the time each was logged as the
    column ``logged_at`` (seconds since the epoch)."""
    import pandas as pd

    if limit < 1:
        raise ValidationError(f"limit: expected a positive number of rows, got {limit!r}")
    p = predictions
    stmt = sa.select(p.c.inputs_json, p.c.prediction_id, p.c.created_at).where(
        p.c.endpoint == endpoint, p.c.role == "primary")
    if since is not None:
        stmt = stmt.where(p.c.created_at >= since)
    if until is not None:
        stmt = stmt.where(p.c.created_at < until)
    stmt = stmt.order_by(p.c.created_at.desc()).limit(limit + 1)
    records: list[dict[str, object]] = []
    ids: list[str] = []
    times: list[float] = []
    seen = 0
    with store.read() as conn:
        result = conn.execution_options(yield_per=STREAM_ROWS).execute(stmt)
        for chunk in result.partitions():
            for row in chunk:
                seen += 1
                if seen > limit:
                    break
                value = json.loads(row.inputs_json)
                if isinstance(value, dict):
                    records.append(value)
                    ids.append(row.prediction_id)
                    times.append(row.created_at)
    for found in (records, ids, times):
        found.reverse()  # oldest first, as logged
    frame = pd.DataFrame.from_records(records)
    if when:
        frame.index = pd.Index(ids, name="prediction_id")
        frame["logged_at"] = times
    return frame, seen > limit
