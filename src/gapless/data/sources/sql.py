"""SQL: a table or a query from any SQLAlchemy URL, streamed in chunks.

Column types are taken from the first chunks (up to :data:`SCHEMA_ROWS` rows), widened
where they disagree; later rows are converted to that schema, and a value that does
not fit is reported with its column and row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gapless.core.config import redact_uri
from gapless.core.errors import NotFoundError, StoreUnavailableError, ValidationError
from gapless.data.sources.base import OpenedSource, arrow_types

CHUNK_ROWS = 50_000
SCHEMA_ROWS = 200_000


def open_sql(
    url: str, *, query: str | None = None, table: str | None = None, chunk_rows: int = CHUNK_ROWS,
    column_types: Mapping[str, str] | None = None,
) -> OpenedSource:
    """Stream ``query`` (or ``table``) from ``url``. ``column_types`` (``{"at": "datetime"}``)
    convert columns the driver returns as other types: SQLite has no timestamps and
    returns their text, which Arrow parses as ISO 8601."""
    import pyarrow as pa
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc

    shown = redact_uri(url)
    if (query is None) == (table is None):
        raise ValidationError(f"reading {shown}: give exactly one of a table or a query")
    try:
        engine = sa.create_engine(url)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ValidationError(f"cannot use database URL {shown}: {exc}") from exc
    try:
        conn = engine.connect()
    except sa_exc.DBAPIError as exc:
        engine.dispose()
        raise StoreUnavailableError(
            f"cannot connect to {shown}: {str(exc.orig).strip().splitlines()[0]}"
        ) from exc
    try:
        if table is not None:
            try:
                statement: Any = sa.select(sa.Table(table, sa.MetaData(), autoload_with=conn))
            except sa_exc.NoSuchTableError as exc:
                raise NotFoundError(f"no table {table!r} in {shown}") from exc
        else:
            statement = sa.text(query)
        try:
            result = conn.execution_options(stream_results=True).execute(statement)
        except sa_exc.DBAPIError as exc:
            raise ValidationError(
                f"query failed on {shown}: {str(exc.orig).strip().splitlines()[0]}; "
                f"query: {query or table!r}"
            ) from exc
        names = list(result.keys())
        first = _fetch_one(result, chunk_rows, shown)
        head = [first] if first else []
        schema = _schema(head, names, SCHEMA_ROWS, result, chunk_rows, shown)
        declared = arrow_types(column_types)
        unknown = sorted(set(declared) - set(names))
        if unknown:
            raise ValidationError(f"{shown}: column_types names {unknown}, which the query "
                                  f"does not return; it returns {names[:20]}")
        schema = pa.schema([f.with_type(declared.get(f.name, f.type)) for f in schema])
    except BaseException:
        conn.close()
        engine.dispose()
        raise

    def batches() -> Iterator[Any]:
        offset = 0
        try:
            for rows in head:
                yield _to_batch(rows, schema, offset, shown, declared)
                offset += len(rows)
            while rows := _fetch_one(result, chunk_rows, shown):
                yield _to_batch(rows, schema, offset, shown, declared)
                offset += len(rows)
        finally:
            conn.close()
            engine.dispose()

    def close() -> None:
        conn.close()
        engine.dispose()

    return OpenedSource(
        reader=pa.RecordBatchReader.from_batches(schema, batches()),
        uri=shown if table is None else f"{shown}#{table}",
        query=query,
        close=close,
    )


def _fetch_one(result: Any, size: int, shown: str) -> list[tuple]:
    from sqlalchemy import exc as sa_exc

    try:
        return [tuple(row) for row in result.fetchmany(size)]
    except sa_exc.DBAPIError as exc:
        raise ValidationError(f"reading from {shown} failed: {exc.orig}") from exc


def _schema(head: list[list[tuple]], names: list[str], limit: int, result: Any, size: int,
            shown: str) -> Any:
    """Infer from buffered chunks, fetching more while a column is still all-null."""
    import pyarrow as pa

    def infer(rows: list[tuple]) -> Any:
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        return pa.schema([(name, pa.array(values).type) for name, values in
                          zip(names, columns, strict=True)])

    try:
        schemas = [infer(rows) for rows in head]
        def unresolved() -> bool:
            merged = pa.unify_schemas(schemas, promote_options="permissive")
            return any(pa.types.is_null(f.type) for f in merged)

        while head and sum(map(len, head)) < limit and unresolved():
            more = _fetch_one(result, size, shown)
            if not more:
                break
            head.append(more)
            schemas.append(infer(more))
        unified = pa.unify_schemas(schemas or [infer([])], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValidationError(f"{shown}: a column mixes types in its first rows: {exc}; CAST it "
                              "in the query") from exc
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                      for f in unified])


def _to_batch(rows: list[tuple], schema: Any, offset: int, shown: str,
              declared: Mapping[str, Any]) -> Any:
    import pyarrow as pa

    arrays = []
    for index, field in enumerate(schema):
        values = [row[index] for row in rows]
        try:
            arrays.append(pa.array(values).cast(field.type) if field.name in declared
                          else pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise ValidationError(
                f"{shown}, column {field.name!r} near row {offset}: a value does not fit the "
                f"type {field.type} of earlier rows ({exc}); CAST the column in the query"
            ) from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
