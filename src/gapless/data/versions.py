"""``workspace.data``: add, find, load and trace immutable dataset versions.

Adding streams the source into a Parquet snapshot in a workspace scratch folder,
hashes it, computes column statistics, uploads it to the artifact store and only
then records the version, in one transaction. Any failure before the record is
written removes the scratch file and any blob this call uploaded, so neither store
is left with half a version.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gapless.core.errors import ValidationError
from gapless.core.identity import current_user
from gapless.core.records import DatasetVersion, LineageNode
from gapless.core.refs import check_name, parse_ref
from gapless.data.repository import DataRepository
from gapless.data.snapshot import write_snapshot
from gapless.data.sources import open_source
from gapless.data.stats import column_stats
from gapless.stores.artifacts import ArtifactStore, Blob, blob_key
from gapless.stores.sql import MetadataStore

KINDS = ("ingest", "clean", "quarantine", "derived")
ON_FAIL = ("fail", "warn", "quarantine")
MISSINGNESS_ROWS = 200_000


@dataclass(frozen=True)
class AddResult:
    """The version ``add`` produced, or the existing one with identical content."""

    version: DatasetVersion
    created: bool

    @property
    def message(self) -> str:
        v = self.version
        if self.created:
            return f"added {v.ref}: {v.row_count:,} rows x {len(v.columns)} columns"
        return f"no new version: the content is identical to {v.ref}"


@dataclass(frozen=True)
class ValidationOutcome:
    """A validation of one version: the result, and the quarantined rows' version if any."""

    version: DatasetVersion
    result: Any  # gapless.data.validation.ValidationResult
    on_fail: str
    quarantine: DatasetVersion | None
    record_id: int

    @property
    def passed(self) -> bool:
        return bool(self.result.passed)


class DataVersions:
    """Dataset versions of one workspace."""

    def __init__(
        self,
        store: MetadataStore,
        artifacts: ArtifactStore,
        *,
        scratch_dir: Path,
        cache_dir: Path,
        storage_options: Callable[[str], Mapping[str, Any]] = lambda uri: {},
    ) -> None:
        self.repository = DataRepository(store)
        self.artifacts = artifacts
        self.scratch_dir = scratch_dir
        self.cache_dir = cache_dir
        self.storage_options = storage_options

    def add(
        self,
        name: str,
        source: Any,
        *,
        query: str | None = None,
        table: str | None = None,
        time_column: str | None = None,
        description: str | None = None,
        format: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        parents: Iterable[str] = (),
        kind: str = "ingest",
        spec: Mapping[str, Any] | None = None,
        on_rows: Callable[[int], None] | None = None,
        **read_options: Any,
    ) -> AddResult:
        """Snapshot ``source`` as the next version of dataset ``name``.

        ``source`` is a path or fsspec URI (CSV, Parquet file/folder/glob, JSON Lines), a
        SQLAlchemy URL with ``query`` or ``table``, or a pandas/polars DataFrame or Arrow
        table. ``read_options`` go to the reader: ``delimiter``, ``encoding``,
        ``column_types`` (e.g. ``{"age": "float"}``), ``null_values``.
        """
        check_name(name, what="dataset name")
        if kind not in KINDS:
            raise ValidationError(f"kind must be one of {KINDS}, got {kind!r}")
        parent_versions = [self.get(ref) for ref in parents]
        if isinstance(source, str | os.PathLike) and storage_options is None:
            storage_options = self.storage_options(str(source))
        opened = open_source(source, format=format, query=query, table=table,
                             storage_options=storage_options, **read_options)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.scratch_dir, prefix="add-") as scratch:
            snapshot = write_snapshot(opened, Path(scratch) / "snapshot.parquet", on_rows=on_rows)
            _check_time_column(time_column, snapshot.schema, opened.uri)
            existing = self.repository.with_digest(name, snapshot.digest)
            if existing is not None:
                return AddResult(existing, created=False)
            columns = column_stats(snapshot.path, snapshot.schema, snapshot.rows)
            uploaded_now = not self.artifacts.exists(snapshot.digest)
            self.artifacts.put_file(snapshot.path, hashed=Blob(snapshot.digest, snapshot.size))
            fields = {
                "digest": snapshot.digest, "size": snapshot.size, "row_count": snapshot.rows,
                "columns_json": json.dumps(columns), "kind": kind,
                # A version computed from its parents has no outside source of its own.
                "source_uri": opened.uri if kind == "ingest" or not parent_versions else None,
                "query": opened.query, "time_column": time_column, "description": description,
                "spec_json": json.dumps(dict(spec), default=str) if spec else None,
                "created_by": current_user(), "created_at": time.time(),
            }
            try:
                version = self.repository.insert_version(
                    name, fields, [p.id for p in parent_versions]
                )
            except BaseException:
                if uploaded_now:
                    self.artifacts.bytes.delete(blob_key(snapshot.digest))
                raise
            self._cache(snapshot.path, snapshot.digest)
        return AddResult(version, created=True)

    def get(self, ref: str) -> DatasetVersion:
        """The version named by ``ref``: ``name``, ``name@3`` or ``name@latest``."""
        return self.repository.find(parse_ref(ref, what="dataset reference"))

    def versions(self, name: str | None = None) -> list[DatasetVersion]:
        """All versions of ``name`` (every dataset when None), oldest first."""
        if name is not None:
            check_name(name, what="dataset name")
        return self.repository.versions(name)

    def path(self, ref: str | DatasetVersion) -> Path:
        """A local copy of the version's Parquet snapshot, verified against its SHA-256."""
        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        cached = self.cache_dir / f"{version.digest}.parquet"
        if not cached.exists():
            self.artifacts.download(version.digest, cached)
        return cached

    def load(self, ref: str | DatasetVersion, columns: list[str] | None = None) -> Any:
        """The version as a pandas DataFrame (``columns`` to read only some)."""
        import pyarrow.parquet as pq

        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        if columns:
            missing = sorted(set(columns) - set(version.column_names))
            if missing:
                raise ValidationError(f"dataset {version.ref} has no column(s) {missing}")
        return pq.read_table(self.path(version), columns=columns).to_pandas()

    def lineage(self, ref: str | DatasetVersion) -> LineageNode:
        """The version with its parents, recursively, back to the ingested sources."""
        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)

        def build(node: DatasetVersion, seen: frozenset[int]) -> LineageNode:
            parents = tuple(
                build(self.repository.by_id(pid), seen | {node.id})
                for pid in self.repository.parent_ids(node.id) if pid not in seen
            )
            return LineageNode(node, parents)

        return build(version, frozenset())

    def diff(self, old: str | DatasetVersion, new: str | DatasetVersion) -> dict[str, Any]:
        """Schema, row-count and column-statistic changes from ``old`` to ``new``."""
        from gapless.data.diff import diff_versions

        return diff_versions(self._version(old), self._version(new))

    def clean(
        self,
        ref: str | DatasetVersion,
        spec: Any = None,
        *,
        replay: str | None = None,
        into: str | None = None,
        description: str | None = None,
    ) -> AddResult:
        """Apply a cleaning spec (YAML path, dict or CleaningSpec) and store the result as a
        new version with ``ref`` as its parent; the spec, what it learned and its report are
        recorded with the version. ``replay="name@v"`` reuses the spec of a cleaned version.
        """
        from gapless.data.cleaning import DataCleaner, load_cleaning_spec

        version = self._version(ref)
        if (spec is None) == (replay is None):
            raise ValidationError("give a cleaning spec or a cleaned version to replay, not both")
        if replay is not None:
            recorded = self.get(replay)
            if recorded.kind != "clean" or not recorded.spec:
                raise ValidationError(f"{recorded.ref} was not made by cleaning; nothing to replay")
            spec = recorded.spec["cleaning"]
        parsed = load_cleaning_spec(spec)
        cleaner = DataCleaner(parsed)
        frame = self.load(version)
        cleaned = cleaner.fit(frame).transform(frame)
        record = {"cleaning": parsed.to_dict(), "fitted": cleaner.fitted_params(),
                  "report": cleaner.report_}
        keeps_time = version.time_column in cleaned.columns
        return self.add(
            into or version.dataset, cleaned.reset_index(drop=True), parents=[version.ref],
            kind="clean", spec=record, description=description or f"cleaned {version.ref}",
            time_column=version.time_column if keeps_time else None,
        )

    def validate(
        self,
        ref: str | DatasetVersion,
        schema: Any,
        *,
        on_fail: str = "fail",
        now: Any = None,
    ) -> ValidationOutcome:
        """Check a version against a declared schema (YAML path, dict or SchemaSpec).

        Every validation is recorded. ``on_fail="quarantine"`` also stores the rows that
        fail any row-level expectation as a version of ``<dataset>.quarantine``; "fail"
        and "warn" only tell the caller (the CLI exits non-zero on "fail"). Render the
        result with :func:`gapless.reports.validation.write_validation_report`.
        """
        from gapless.data.expectations import load_schema_spec
        from gapless.data.validation import failing_rows, validate

        if on_fail not in ON_FAIL:
            raise ValidationError(f"on_fail must be one of {ON_FAIL}, got {on_fail!r}")
        version = self._version(ref)
        spec = load_schema_spec(schema)
        path = self.path(version)
        result = validate(path, spec, now=now, dataset=version.ref)
        quarantine = None
        if on_fail == "quarantine" and not result.passed:
            bad = failing_rows(path, spec)
            if bad.num_rows:
                failed = [o.id for o in result.expectations if not o.passed]
                quarantine = self.add(
                    f"{version.dataset}.quarantine", bad, parents=[version.ref],
                    kind="quarantine", spec={"failed_expectations": failed},
                    description=f"rows of {version.ref} failing {', '.join(failed)}",
                ).version
        record_id = self.repository.record_validation({
            "version_id": version.id, "passed": result.passed, "on_fail": on_fail,
            "spec_json": json.dumps(spec.to_dict()),
            "result_json": json.dumps(result.to_dict(), default=str),
            "quarantine_id": quarantine.id if quarantine else None,
            "created_by": current_user(), "created_at": time.time(),
        })
        return ValidationOutcome(version, result, on_fail, quarantine, record_id)

    def validations(self, ref: str | DatasetVersion) -> list[dict[str, Any]]:
        """Every recorded validation of a version, newest first."""
        return self.repository.validations(self._version(ref).id)

    def profile(self, ref: str | DatasetVersion, *, target: str | None = None,
                max_rows: int | None = None) -> dict[str, Any]:
        """The EDA profile of a version (see :mod:`gapless.data.profiling`) with a
        missingness analysis under ``"missingness"``; render it with
        :func:`gapless.reports.profile.profile_html`."""
        from gapless.data.missingness import missingness_analysis
        from gapless.data.profiling import profile

        version = self._version(ref)
        result = profile(self.path(version), target=target, max_rows=max_rows,
                         dataset=version.ref)
        if any(c["null_count"] for c in version.columns):
            result["missingness"] = missingness_analysis(self.sample(version, MISSINGNESS_ROWS))
        return result

    def sample(self, ref: str | DatasetVersion, rows: int, *, seed: int = 0) -> Any:
        """A seeded random sample of at most ``rows`` rows as a pandas DataFrame, read by
        DuckDB without loading the whole version."""
        import duckdb

        version = self._version(ref)
        if version.row_count <= rows:
            return self.load(version)
        con = duckdb.connect()
        try:
            return con.execute(
                f"SELECT * FROM read_parquet(?) USING SAMPLE reservoir({int(rows)} ROWS) "
                f"REPEATABLE ({int(seed)})", [str(self.path(version))]
            ).df()
        finally:
            con.close()

    def _version(self, ref: str | DatasetVersion) -> DatasetVersion:
        return ref if isinstance(ref, DatasetVersion) else self.get(ref)

    def _cache(self, snapshot: Path, digest: str) -> None:
        """Keep the freshly written snapshot as the local copy, saving a download later."""
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            target = self.cache_dir / f"{digest}.parquet"
            if not target.exists():
                shutil.move(snapshot, target)  # a rename when scratch and cache share a disk
        except OSError:
            pass  # the cache is an optimisation; the artifact store holds the truth


def _check_time_column(name: str | None, schema: Any, uri: str) -> None:
    import pyarrow.types as pat

    if name is None:
        return
    if name not in schema.names:
        raise ValidationError(
            f"{uri}: time column {name!r} is not among the columns {schema.names[:20]}"
        )
    found = schema.field(name).type
    if not (pat.is_timestamp(found) or pat.is_date(found)):
        raise ValidationError(
            f"{uri}: time column {name!r} holds {found}, not dates or times; declare it "
            f"(Python: column_types={{{name!r}: 'datetime'}}, CLI: --type {name}=datetime)"
        )


__all__ = ["AddResult", "DataVersions"]
