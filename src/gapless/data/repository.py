"""SQL persistence of datasets, versions and lineage; the only data module that writes SQL."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import NotFoundError
from gapless.core.records import DatasetVersion
from gapless.core.refs import Ref
from gapless.stores.sql import MetadataStore, upsert
from gapless.stores.tables import (
    dataset_parents,
    dataset_validations,
    dataset_versions,
    datasets,
)


class DataRepository:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def insert_version(self, name: str, fields: dict[str, Any], parent_ids: Sequence[int]
                       ) -> DatasetVersion:
        """Record a new version, numbered one past the dataset's latest, with its parents."""

        def work(conn: sa.Connection) -> int:
            upsert(conn, datasets, [{"name": name, "description": fields.get("description"),
                                     "created_at": time.time()}], keys=["name"], update=[])
            dataset_id = conn.execute(
                # Row lock on PostgreSQL so concurrent adds number versions one after another.
                sa.select(datasets.c.id).where(datasets.c.name == name).with_for_update()
            ).scalar_one()
            latest = conn.execute(
                sa.select(sa.func.max(dataset_versions.c.version)).where(
                    dataset_versions.c.dataset_id == dataset_id)
            ).scalar()
            version_id = conn.execute(
                dataset_versions.insert().values(
                    dataset_id=dataset_id, version=(latest or 0) + 1, **fields
                ).returning(dataset_versions.c.id)
            ).scalar_one()
            if parent_ids:
                conn.execute(dataset_parents.insert(), [
                    {"version_id": version_id, "parent_id": p} for p in dict.fromkeys(parent_ids)
                ])
            return version_id

        return self.by_id(self.store.write(work))

    def find(self, ref: Ref) -> DatasetVersion:
        stmt = _select().where(datasets.c.name == ref.name)
        if ref.version is not None:
            stmt = stmt.where(dataset_versions.c.version == ref.version)
        elif ref.selector == "latest":
            stmt = stmt.order_by(dataset_versions.c.version.desc()).limit(1)
        else:
            raise NotFoundError(f"dataset reference {ref}: datasets have version numbers and "
                                "'latest', not aliases")
        with self.store.read() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                raise NotFoundError(self._missing(conn, ref))
            return _records(conn, [row])[0]

    def by_id(self, version_id: int) -> DatasetVersion:
        with self.store.read() as conn:
            row = conn.execute(_select().where(dataset_versions.c.id == version_id)).one()
            return _records(conn, [row])[0]

    def with_digest(self, name: str, digest: str) -> DatasetVersion | None:
        with self.store.read() as conn:
            row = conn.execute(
                _select().where(datasets.c.name == name, dataset_versions.c.digest == digest)
                .order_by(dataset_versions.c.version).limit(1)
            ).first()
            return _records(conn, [row])[0] if row is not None else None

    def versions(self, name: str | None = None) -> list[DatasetVersion]:
        """Every version of ``name`` (or of every dataset), oldest first."""
        stmt = _select().order_by(datasets.c.name, dataset_versions.c.version)
        if name is not None:
            stmt = stmt.where(datasets.c.name == name)
        with self.store.read() as conn:
            return _records(conn, conn.execute(stmt).all())

    def parent_ids(self, version_id: int) -> list[int]:
        with self.store.read() as conn:
            return list(conn.execute(
                sa.select(dataset_parents.c.parent_id).where(
                    dataset_parents.c.version_id == version_id
                ).order_by(dataset_parents.c.parent_id)
            ).scalars())

    def record_validation(self, fields: dict[str, Any]) -> int:
        def work(conn: sa.Connection) -> int:
            return conn.execute(
                dataset_validations.insert().values(**fields).returning(dataset_validations.c.id)
            ).scalar_one()

        return self.store.write(work)

    def validations(self, version_id: int) -> list[dict[str, Any]]:
        """Validations of a version, newest first, as stored."""
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(dataset_validations).where(
                    dataset_validations.c.version_id == version_id
                ).order_by(dataset_validations.c.id.desc())
            ).all()
        return [
            {"id": r.id, "passed": r.passed, "on_fail": r.on_fail,
             "spec": json.loads(r.spec_json), "result": json.loads(r.result_json),
             "quarantine_id": r.quarantine_id, "created_by": r.created_by,
             "created_at": r.created_at}
            for r in rows
        ]

    @staticmethod
    def _missing(conn: sa.Connection, ref: Ref) -> str:
        latest = conn.execute(
            sa.select(sa.func.max(dataset_versions.c.version)).join(datasets).where(
                datasets.c.name == ref.name)
        ).scalar()
        if latest is None:
            return f"no dataset named {ref.name!r}; add one with `gapless data add {ref.name} FILE`"
        return f"dataset {ref.name!r} has no version {ref.selector}; its latest is {latest}"


def _select() -> sa.Select[Any]:
    return sa.select(dataset_versions, datasets.c.name.label("dataset_name")).join(
        datasets, datasets.c.id == dataset_versions.c.dataset_id
    )


def _records(conn: sa.Connection, rows: Sequence[Any]) -> list[DatasetVersion]:
    ids = [row.id for row in rows]
    parents: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        parent = dataset_versions.alias("parent")
        parent_set = datasets.alias("parent_set")
        for child_id, parent_name, parent_version in conn.execute(
            sa.select(dataset_parents.c.version_id, parent_set.c.name, parent.c.version)
            .join(parent, parent.c.id == dataset_parents.c.parent_id)
            .join(parent_set, parent_set.c.id == parent.c.dataset_id)
            .where(dataset_parents.c.version_id.in_(ids))
            .order_by(parent_set.c.name, parent.c.version)
        ):
            parents[child_id].append(f"{parent_name}@{parent_version}")
    return [
        DatasetVersion(
            id=row.id, dataset=row.dataset_name, version=row.version, digest=row.digest,
            size=row.size, row_count=row.row_count, columns=tuple(json.loads(row.columns_json)),
            kind=row.kind, source_uri=row.source_uri, query=row.query,
            time_column=row.time_column, description=row.description,
            spec=json.loads(row.spec_json) if row.spec_json else None,
            created_by=row.created_by, created_at=row.created_at,
            parents=tuple(parents[row.id]),
        )
        for row in rows
    ]
