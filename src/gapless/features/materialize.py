"""Materialization: each entity's feature values as of a time, written to the online store.

The values are computed by the same point-in-time join that builds training sets (every
entity of the source, looked up at ``until``), so what serving reads is what training
saw: no second implementation to drift apart. Each row is stored with ``until`` as its
event time, and the store keeps per entity only the newest, so materializing the same
``until`` twice changes nothing and an older run never overwrites a newer one.
``since`` limits the run to the entities with a source row after it (incremental).
Materializing a view's new version drops the older versions' rows (invalidation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gapless.features.offline import point_in_time


@dataclass(frozen=True)
class Materialized:
    view: str  # NAME@VERSION
    rows: int
    until: float
    dropped_versions: list[int]


def materialize(online: Any, found: Any, path: str, *, until: float,
                since: float | None = None) -> Materialized:
    """Write ``found`` (a ViewVersion) as of ``until`` (epoch seconds) into ``online``."""
    import duckdb
    import pandas as pd

    view = found.view
    keys = ", ".join(f'"{k}"' for k in view.entities)
    where = []
    if view.timestamp:
        column = f'CAST("{view.timestamp}" AS TIMESTAMP)'
        where.append(f"{column} <= $2")
        if since is not None:
            where.append(f"{column} > $3")
    sql = (f"SELECT DISTINCT {keys} FROM read_parquet($1)"
           + (f" WHERE {' AND '.join(where)}" if where else ""))
    params: list[Any] = [path]
    if view.timestamp:
        params.append(_naive(until))
        if since is not None:
            params.append(_naive(since))
    con = duckdb.connect()
    try:
        entities = con.execute(sql, params).df()
    finally:
        con.close()
    names = [f.name for f in view.features]
    if view.timestamp:
        entities["_until"] = pd.Timestamp(_naive(until))
    frame = point_in_time(entities, [(view, path, names)],
                          timestamp="_until" if view.timestamp else None)
    rows = [(tuple(str(v) for v in record[:len(view.entities)]), until,
             {name: _plain(value) for name, value in zip(names, record[-len(names):],
                                                         strict=True)})
            for record in frame[[*view.entities, *names]].itertuples(index=False, name=None)]
    written = online.write(view.name, found.version, rows)
    stale = [v for v in online.versions(view.name) if v != found.version]
    for version in stale:
        online.drop(view.name, version)
    return Materialized(found.ref, written, until, stale)


def _naive(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC).replace(tzinfo=None)


def _plain(value: Any) -> Any:
    """A stored value as JSON takes it: missing (None, NaN, NaT) as None."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
