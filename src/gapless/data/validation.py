"""Run a declared schema over data with DuckDB, never loading the data into Python.

The source (a Parquet file, a pandas DataFrame or a pyarrow Table) becomes one DuckDB
view with a hidden 0-based row number; then external access is switched off and the
configuration locked, so SQL from a schema (predicates) can read nothing but that view:
no files, no extensions, no network. Each expectation is one aggregate query that
DuckDB runs over only the columns it names; only failing ones pay for a second query
that fetches a sample of their rows (the first ones by row number).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gapless.core.errors import GaplessError, NotFoundError, ValidationError
from gapless.data.expectations import (
    Freshness,
    Predicate,
    SchemaSpec,
    Target,
    literal,
    quote_name,
)

ROW_NUMBER = "__gapless_row__"
VIEW = '"gapless_data"'
MAX_TEXT = 200  # longer strings in samples are cut, so a report stays small


@dataclass(frozen=True)
class ExpectationOutcome:
    """How one expectation fared on the data.

    ``failing_rows`` and ``sample`` are empty whenever ``passed``; ``observed`` holds what
    was measured either way (offending rows, missing fraction, newest timestamp...).
    ``checked`` is False when the expectation could not run (its column is missing).
    Each sample is ``{"row": <0-based position in the source>, "values": {column: value}}``.
    """

    column: str | None
    expectation: str
    parameters: Mapping[str, Any]
    passed: bool
    message: str
    failing_rows: int = 0
    failing_fraction: float = 0.0
    sample: tuple[Mapping[str, Any], ...] = ()
    observed: Mapping[str, Any] = field(default_factory=dict)
    checked: bool = True

    @property
    def id(self) -> str:
        """A stable name, unique within one result: ``age.min``, ``table.row_count``..."""
        if self.expectation == "predicate":
            return f"predicate.{self.parameters['name']}"
        return f"{'table' if self.column is None else self.column}.{self.expectation}"

    @property
    def status(self) -> str:
        return "pass" if self.passed else ("fail" if self.checked else "not checked")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "column": self.column, "expectation": self.expectation,
                "parameters": _plain(dict(self.parameters)), "passed": self.passed,
                "checked": self.checked, "status": self.status,
                "failing_rows": self.failing_rows, "failing_fraction": self.failing_fraction,
                "message": self.message, "observed": _plain(dict(self.observed)),
                "sample": [_plain(dict(s)) for s in self.sample]}


@dataclass(frozen=True)
class ValidationResult:
    """Every expectation of a schema, judged on one dataset at one moment."""

    dataset: str | None
    row_count: int
    column_types: Mapping[str, str]
    expectations: tuple[ExpectationOutcome, ...]
    checked_at: str

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.expectations)

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(e for e in self.expectations if not e.passed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe mapping: what the JSON report holds."""
        failed = len(self.failed)
        return {"dataset": self.dataset, "passed": self.passed, "row_count": self.row_count,
                "checked_at": self.checked_at, "column_types": dict(self.column_types),
                "summary": {"expectations": len(self.expectations), "failed": failed,
                            "passed": len(self.expectations) - failed},
                "expectations": [e.to_dict() for e in self.expectations]}


def validate(source: Any, spec: SchemaSpec, *, now: dt.datetime | None = None,
             sample_size: int = 10, dataset: str | None = None) -> ValidationResult:
    """Judge every expectation of ``spec`` on ``source``; a bad spec raises ValidationError.

    ``source`` is a Parquet file path (scanned by DuckDB, never loaded), a pandas
    DataFrame or a pyarrow Table. ``now`` (default: the current UTC time; naive means
    UTC) anchors freshness. Failing expectations carry up to ``sample_size`` rows.
    """
    if sample_size < 0:
        raise ValidationError(f"sample_size must be >= 0, got {sample_size}")
    now = now or dt.datetime.now(dt.UTC)
    now = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    now_us = (now - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    with _Data(source, dataset) as data:
        steps = _plan(spec, data)
        plans = [s for s in steps if isinstance(s, _Plan)]
        total, values = data.measure(plans)
        outcomes = []
        for step in steps:
            if isinstance(step, ExpectationOutcome):
                outcomes.append(step)
            elif step.condition is not None:
                outcomes.append(_judge_rows(step, values[id(step)], total, data, sample_size))
            else:
                passed, message = step.exp.judge(values[id(step)], step.target, total=total,
                                                 now_us=now_us)
                outcomes.append(_outcome(step, passed, message, observed=values[id(step)]))
        types = {name: str(kind) for name, kind in data.types.items()}
    return ValidationResult(dataset, total, types, tuple(outcomes), now.isoformat())


def failing_rows(source: Any, spec: SchemaSpec, *, row_number: str | None = None) -> Any:
    """The rows breaking any row-level expectation, as a pyarrow Table, in source order.

    Row-level means not_null, unique (every copy of a duplicated value), min, max,
    allowed_values, regex, a castable type and predicates; max_missing_fraction and the
    table-wide kinds never single out rows. Columns and types are the source's; with
    ``row_number`` a column of that name holds each row's 0-based position in the source.
    """
    import duckdb

    with _Data(source, None) as data:
        plans = [s for s in _plan(spec, data) if isinstance(s, _Plan)
                 and s.condition is not None and s.exp.quarantine]
        if row_number is not None and row_number in data.types:
            raise ValidationError(f"row_number column `{row_number}` already exists in the "
                                  "data; choose another name")
        where = " OR ".join(f"coalesce({p.condition}, FALSE)" for p in plans) or "FALSE"
        extra = f", {data.row} AS {quote_name(row_number)}" if row_number else ""
        query = (f"SELECT * EXCLUDE ({data.row}){extra} FROM {VIEW} WHERE {where} "
                 f"ORDER BY {data.row}")
        try:
            table = data.run(None, query)
        except ValidationError as exc:
            if isinstance(exc.__cause__, duckdb.Error):
                data.measure(plans)  # names the expectation that fails alone
            raise
        return _restore(table, data.schema, row_number)


@dataclass(eq=False)
class _Plan:
    """One expectation compiled against the data: a row condition or named aggregates."""

    exp: Any
    target: Target
    column: str | None
    condition: str | None = None
    measures: dict[str, str] = field(default_factory=dict)


def _plan(spec: SchemaSpec, data: _Data) -> list[_Plan | ExpectationOutcome]:
    steps: list[_Plan | ExpectationOutcome] = []
    for col in spec.columns:
        present = col.name in data.types
        steps.append(ExpectationOutcome(
            col.name, "exists", {}, present,
            f"column `{col.name}` is present ({data.types[col.name]})" if present
            else data.missing_message(col.name)))
        for exp in col.expectations:
            if present:
                steps.append(_compile(exp, data.target(col.name), col.name))
            else:
                steps.append(ExpectationOutcome(
                    col.name, exp.kind, exp.params(), False, checked=False,
                    message=f"not checked: column `{col.name}` is missing"))
    for exp in spec.table:
        if isinstance(exp, Freshness) and exp.column not in data.types:
            steps.append(ExpectationOutcome(None, exp.kind, exp.params(), False,
                                            data.missing_message(exp.column)))
        else:
            column = exp.column if isinstance(exp, Freshness) else None
            steps.append(_compile(exp, data.target(column), None))
    return steps


def _compile(exp: Any, target: Target, column: str | None) -> _Plan:
    if exp.evaluates == "rows":
        return _Plan(exp, target, column, condition=f"({exp.violation(target)})")
    return _Plan(exp, target, column, measures=exp.measures(target))


def _judge_rows(plan: _Plan, count: int, total: int, data: _Data, sample_size: int
                ) -> ExpectationOutcome:
    exp, fraction = plan.exp, (count / total if total else 0.0)
    observed = {"rows": count, "fraction": fraction}
    if exp.tolerates(count, total):
        message = (f"all {total:,} rows pass: {exp.describe()}" if count == 0 else
                   f"{count:,} of {total:,} rows ({fraction:.2%}) counted; within "
                   f"{exp.describe()}")
        return _outcome(plan, True, message, observed=observed)
    sample = data.sample(plan, sample_size)
    example = ""
    if sample and plan.column is not None:
        value = sample[0]["values"][plan.column]
        shown = "a missing value" if value is None else repr(value)
        example = f"; e.g. row {sample[0]['row']} holds {shown}"
    elif sample:
        example = f"; e.g. row {sample[0]['row']}"
    advice = ("fix or quarantine those rows" if exp.quarantine
              else "fill the missing values or relax the limit")
    message = (f"{count:,} of {total:,} rows ({fraction:.2%}) fail; expected "
               f"{exp.describe()}{example}; {advice}")
    return _outcome(plan, False, message, observed=observed, failing_rows=count,
                    failing_fraction=fraction, sample=tuple(sample))


def _outcome(plan: _Plan, passed: bool, message: str, **extra: Any) -> ExpectationOutcome:
    return ExpectationOutcome(plan.column, plan.exp.kind, plan.exp.params(), passed, message,
                              **extra)


class _Data:
    """One locked-down DuckDB connection whose only readable data is the source view."""

    def __init__(self, source: Any, dataset: str | None) -> None:
        import duckdb

        self.label = f"dataset `{dataset}`" if dataset else "data"
        self.con = duckdb.connect(":memory:")
        try:
            self.schema = self._attach(source)
            self.con.execute("SET python_enable_replacements = false")  # no caller variables
            with contextlib.suppress(duckdb.Error):  # dates in a spec mean UTC, needs ICU
                self.con.execute("SET TimeZone = 'UTC'")
            self.con.execute("SET enable_external_access = false")
            self.con.execute("SET lock_configuration = true")
            view = _arrow(self.con.sql(f"SELECT * FROM {VIEW} LIMIT 0")).schema
        except duckdb.Error as exc:
            self.con.close()
            raise ValidationError(f"cannot read {self.label} from {_name(source)}: "
                                  f"{_first_lines(exc)}; is it a Parquet file?") from exc
        except BaseException:
            self.con.close()
            raise
        self.types = {f.name: f.type for f in view if f.name != self.row_name}

    def __enter__(self) -> _Data:
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    @property
    def row(self) -> str:
        return quote_name(self.row_name)

    def _attach(self, source: Any) -> Any:
        import duckdb
        import pyarrow as pa

        if isinstance(source, str | os.PathLike):
            import pyarrow.parquet as pq

            path = Path(source).expanduser().resolve()
            if not path.is_file():
                raise NotFoundError(f"data file {path} does not exist; check the path")
            file = literal(str(path))
            self.con.execute(f"SET allowed_paths = [{file}]")
            # Parquet min/max ignore NaN; without can_have_nan DuckDB folds isnan() to false
            # (duckdb/duckdb#25521). Versions without the option already assume NaNs.
            reader = f"read_parquet({file}, can_have_nan = true"
            try:
                names = self.con.sql(f"SELECT * FROM {reader}) LIMIT 0").columns
            except duckdb.BinderException:
                reader = f"read_parquet({file}"
                names = self.con.sql(f"SELECT * FROM {reader}) LIMIT 0").columns
            self.row_name = _free_name(names)
            if "file_row_number" in names:  # DuckDB cannot add its own; the scan keeps order
                scan = f"SELECT row_number() OVER () - 1 AS {self.row}, * FROM {reader})"
            else:
                scan = (f"SELECT file_row_number AS {self.row}, * EXCLUDE (file_row_number) "
                        f"FROM {reader}, file_row_number = true)")
            self.con.execute(f"CREATE VIEW {VIEW} AS {scan}")
            try:
                return pq.read_schema(path)
            except (OSError, pa.ArrowException):
                return None
        table = _to_arrow(source)
        self.row_name = _free_name(table.column_names)
        import numpy as np

        numbered = table.append_column(self.row_name, pa.array(np.arange(table.num_rows)))
        self.con.register("gapless_source", numbered)
        self.con.execute(f"CREATE VIEW {VIEW} AS SELECT * FROM gapless_source")
        return table.schema

    def target(self, column: str | None) -> Target:
        return Target(VIEW, column, self.types.get(column) if column is not None else None)

    def missing_message(self, column: str) -> str:
        close = difflib.get_close_matches(column, list(self.types), n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        names = ", ".join(f"`{n}`" for n in list(self.types)[:20])
        more = ", ..." if len(self.types) > 20 else ""
        return (f"column `{column}` is missing from the {self.label}; {hint}it has {names}"
                f"{more}; rename it in the schema or the data")

    def measure(self, plans: list[_Plan]) -> tuple[int, dict[int, Any]]:
        """The row count, then each plan's count or aggregates: one query per plan.

        Separate queries beat one wide aggregate here: DuckDB plans a query mixing many
        semi-joins (unique) and distinct counts far worse than each alone.
        """
        total = self.con.sql(f"SELECT count(*) FROM {VIEW}").fetchall()[0][0]
        out: dict[int, Any] = {}
        for plan in plans:
            exprs = self._exprs(plan)
            select = ", ".join(f"{e} AS v{i}" for i, e in enumerate(exprs))
            values = list(self.run(plan, f"SELECT {select} FROM {VIEW}").to_pylist()[0].values()
                          ) if exprs else []
            out[id(plan)] = (values[0] if plan.condition is not None
                             else dict(zip(plan.measures, values, strict=True)))
        return total, out

    def sample(self, plan: _Plan, size: int) -> list[dict[str, Any]]:
        if size == 0:
            return []
        query = (f"SELECT * FROM {VIEW} WHERE coalesce({plan.condition}, FALSE) "
                 f"ORDER BY {self.row} LIMIT {int(size)}")
        rows = []
        for record in self.run(plan, query).to_pylist():
            number = record.pop(self.row_name)
            if plan.column is not None:  # the checked column first
                record = {plan.column: record[plan.column], **record}
            rows.append({"row": number, "values": {k: _plain(v) for k, v in record.items()}})
        return rows

    def run(self, plan: _Plan | None, query: str) -> Any:
        """Run one query as an Arrow table; a DuckDB failure names the plan it ran for."""
        import duckdb

        if len(self.con.extract_statements(query)) != 1:
            raise ValidationError(f"{self.label}: a schema expression holds more than one SQL "
                                  "statement; each predicate must be one expression")
        try:
            return _arrow(self.con.sql(query))
        except duckdb.Error as exc:
            if plan is None:
                raise ValidationError(f"{self.label}: DuckDB failed: {_first_lines(exc)}"
                                      ) from exc
            raise self._blame(plan, exc) from exc

    @staticmethod
    def _exprs(plan: _Plan) -> list[str]:
        if plan.condition is not None:
            return [f"count(*) FILTER (WHERE coalesce({plan.condition}, FALSE))"]
        return list(plan.measures.values())

    def _blame(self, plan: _Plan, exc: Exception) -> GaplessError:
        exp = plan.exp
        if isinstance(exp, Predicate):
            return ValidationError(
                f"{self.label}: predicate `{exp.name}` ({exp.sql!r}) cannot run: "
                f"{_first_lines(exc)}; write one boolean SQL expression over a row's columns")
        where = f"column `{plan.column}`, " if plan.column is not None else "table, "
        return ValidationError(
            f"{self.label}: {where}expectation `{exp.kind}` ({exp.describe()}) cannot run on "
            f"data typed {plan.target.arrow_type}: {_first_lines(exc)}; fix it in the schema")


def _to_arrow(source: Any) -> Any:
    import pyarrow as pa

    if isinstance(source, pa.Table):
        return source
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(source, pd.DataFrame):
        try:
            return pa.Table.from_pandas(source, preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise ValidationError(f"cannot read the DataFrame as typed columns: {exc}; make "
                                  "each column hold one type") from exc
    raise ValidationError(f"cannot validate a {type(source).__name__}; pass a Parquet file "
                          "path, a pandas DataFrame or a pyarrow Table")


def _restore(table: Any, schema: Any, row_number: str | None) -> Any:
    """Give the quarantined rows the source's own column types where DuckDB changed them."""
    import pyarrow as pa

    if schema is None:
        return table
    if row_number is not None:
        schema = schema.append(pa.field(row_number, pa.int64()))
    try:
        return table.cast(schema)
    except (pa.ArrowException, ValueError, TypeError):
        return table


def _arrow(relation: Any) -> Any:
    fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return fetch()


def _free_name(names: Any) -> str:
    name = ROW_NUMBER
    while name in set(names):
        name += "_"
    return name


def _name(source: Any) -> str:
    return str(source) if isinstance(source, str | os.PathLike) else type(source).__name__


def _first_lines(exc: Exception) -> str:
    return " ".join(str(exc).strip().splitlines()[:2])


def _plain(value: Any) -> Any:
    """A value as JSON can hold it: dates as ISO text, NaN as null, long text cut."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "..."
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return _plain(value.hex())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return _plain(str(value))
