"""Point-in-time correct training sets, joined in DuckDB.

For each row of the entity frame (entity keys and a lookup time), each feature takes the
value its view held **at that time**: the latest source row of the same entity whose event
time is at or before the lookup time (never a later one), and missing when that row is
older than the view's TTL. Source rows of one entity with the same event time are a tie:
the one stored last wins, so the answer does not depend on the join's order. Windowed
aggregates read the entity's rows with ``lookup - window < event time <= lookup``. A
static view (no timestamp) joins on the keys alone, one row per entity.

Times are compared in UTC: naive times are taken as UTC, aware ones converted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gapless.core.errors import ValidationError
from gapless.features.views import FeatureView, duration_seconds

SQL_FUNCTIONS = {"count": "count({c})", "sum": "sum({c})", "mean": "avg({c})",
                 "min": "min({c})", "max": "max({c})", "last": "arg_max({c}, s._ts)"}


def point_in_time(entity_df: Any, requests: Sequence[tuple[FeatureView, str, list[str]]], *,
                  timestamp: str | None) -> Any:
    """``entity_df`` with one column per requested feature. ``requests``: per view, the
    view, the Parquet path of its source, and the names of the features wanted."""
    import duckdb
    import pandas as pd

    entities = entity_df.reset_index(drop=True).copy()
    timed = any(view.timestamp for view, _, _ in requests)
    if timed:
        if timestamp is None or timestamp not in entities.columns:
            raise ValidationError(
                f"the entity frame has no timestamp column {timestamp!r}; it has "
                f"{list(entities.columns)}; pass timestamp=COLUMN (the time each row's "
                "features are looked up at)")
        entities["_at"] = _utc(entities[timestamp], f"entity frame column {timestamp!r}")
    entities["_row"] = range(len(entities))
    con = duckdb.connect()  # without ICU, time zones are UTC
    try:
        con.register("entities", entities)
        out = entities[["_row"]]
        for view, path, names in requests:
            missing = [k for k in view.entities if k not in entities.columns]
            if missing:
                raise ValidationError(f"the entity frame lacks the key column(s) {missing} of "
                                      f"feature view {view.name!r}")
            _check_source(con, view, path, names)
            found = con.execute(_sql(view, names, ties=_has_ties(con, view, path, names)),
                                [path]).df()
            out = out.merge(found, on="_row", how="left")
    finally:
        con.close()
    result = entities.drop(columns=[c for c in ("_at", "_row") if c in entities.columns])
    columns = out.sort_values("_row").drop(columns="_row").reset_index(drop=True)
    return pd.concat([result, columns], axis=1)


def _has_ties(con: Any, view: FeatureView, path: str, names: list[str]) -> bool:
    """Whether two source rows of one entity share an event time: only then is the join
    slowed down by settling ties (a window over the whole source)."""
    if not view.timestamp or all(view.feature(n).aggregate for n in names):
        return False
    keys = _names([*view.entities, view.timestamp])
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM read_parquet($1) GROUP BY {keys} "
                            "HAVING count(*) > 1)", [path]).fetchone()[0])


def _rows(view: FeatureView, names: list[str]) -> str:
    """The source's rows, with a column per computed feature (``Feature.reads``)."""
    computed = [view.feature(n) for n in names if view.feature(n).computed is not None]
    if not computed:
        return "read_parquet($1)"
    columns = ", ".join(f'({f.computed}) AS "{f.reads}"' for f in computed)
    return f"(SELECT *, {columns} FROM read_parquet($1))"


def _sql(view: FeatureView, names: list[str], *, ties: bool) -> str:
    keys = view.entities
    on = " AND ".join(f's."{k}" = e."{k}"' for k in keys)
    plain = [view.feature(n) for n in names if view.feature(n).aggregate is None]
    aggregates = [view.feature(n) for n in names if view.feature(n).aggregate is not None]
    parts = []
    if not view.timestamp:
        columns = ", ".join(f's."{f.reads}" AS "{f.name}"' for f in plain)
        return (f'SELECT e._row, {columns} FROM entities e LEFT JOIN '
                f'(SELECT * FROM (SELECT *, row_number() OVER () AS _rn FROM {_rows(view, names)}) '
                f'QUALIFY row_number() OVER (PARTITION BY {_names(keys)} ORDER BY _rn DESC) = 1)'
                f' s ON {on}')
    numbered = ", row_number() OVER () AS _rn" if ties else ""
    source = (f'(SELECT *, CAST("{view.timestamp}" AS TIMESTAMP) AS _ts{numbered} '
              f'FROM {_rows(view, names)})')
    if plain:
        ttl = view.ttl_seconds
        keep = (f"e._at - s._ts <= INTERVAL '{ttl} seconds'" if ttl is not None else "TRUE")
        columns = ", ".join(f'CASE WHEN {keep} THEN s."{f.reads}" END AS "{f.name}"'
                            for f in plain)
        latest = (f'(SELECT * FROM {source} QUALIFY row_number() OVER (PARTITION BY '
                  f'{_names(keys)}, _ts ORDER BY _rn DESC) = 1)') if ties else source
        parts.append(f"SELECT e._row, {columns} FROM entities e ASOF LEFT JOIN {latest} s "
                     f"ON {on} AND e._at >= s._ts")
    if aggregates:
        widest = max(duration_seconds(f.aggregate.window, "window") for f in aggregates
                     if f.aggregate is not None)
        columns = []
        for f in aggregates:
            assert f.aggregate is not None
            seconds = duration_seconds(f.aggregate.window, "window")
            expression = SQL_FUNCTIONS[f.aggregate.function].format(c=f's."{f.reads}"')
            columns.append(f"{expression} FILTER (WHERE s._ts > e._at - INTERVAL "
                           f"'{seconds} seconds') AS \"{f.name}\"")
        parts.append(f"SELECT e._row, {', '.join(columns)} FROM entities e LEFT JOIN "
                     f"{source} s ON {on} AND s._ts <= e._at AND s._ts > e._at - INTERVAL "
                     f"'{widest} seconds' GROUP BY e._row")
    if len(parts) == 1:
        return parts[0]
    return (f"SELECT * FROM ({parts[0]}) p JOIN ({parts[1]}) a USING (_row)")


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _check_source(con: Any, view: FeatureView, path: str, names: list[str]) -> None:
    import duckdb

    found = {row[0]: row[1] for row in con.execute(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
        [path]).fetchall()}
    needed = {*view.entities, *([view.timestamp] if view.timestamp else []),
              *(view.feature(n).reads for n in names if view.feature(n).computed is None)}
    missing = sorted(needed - set(found))
    if missing:
        raise ValidationError(f"the source of feature view {view.name!r} lacks column(s) "
                              f"{missing}; it has {sorted(found)}")
    for name in names:
        feature = view.feature(name)
        if feature.computed is not None:
            try:
                con.execute(f"DESCRIBE SELECT ({feature.computed}) FROM read_parquet(?)",
                            [path])
            except duckdb.Error as exc:
                first = str(exc).strip().splitlines()[0]
                raise ValidationError(f"feature view {view.name!r}, feature {name!r}: its "
                                      f"expression {feature.computed!r} does not work on the "
                                      f"source: {first}") from None
    if view.timestamp and not any(t in found[view.timestamp].upper()
                                  for t in ("TIMESTAMP", "DATE")):
        raise ValidationError(f"feature view {view.name!r}: its timestamp column "
                              f"{view.timestamp!r} holds {found[view.timestamp]}, not times")


def _utc(values: Any, what: str) -> Any:
    import pandas as pd

    try:
        text = not pd.api.types.is_datetime64_any_dtype(values)
        converted = pd.to_datetime(values, utc=True, format="ISO8601" if text else None)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"{what}: not times ({exc})") from None
    if converted.isna().any():
        raise ValidationError(f"{what}: row {int(converted.isna().argmax())} has no time")
    return converted.dt.tz_localize(None)


def parse_features(features: Sequence[str] | Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """``["view:feature", "view"]`` -> {view ref: [features] (empty: all)}."""
    if isinstance(features, Mapping):
        return {str(k): list(v) for k, v in features.items()}
    wanted: dict[str, list[str]] = {}
    for item in features:
        view, _, name = str(item).partition(":")
        if not view:
            raise ValidationError(f"feature {item!r}: expected VIEW:FEATURE or VIEW")
        chosen = wanted.setdefault(view, [])
        if name:
            chosen.append(name)
        elif chosen:
            raise ValidationError(f"feature view {view!r} is asked for whole and by feature")
    return wanted
