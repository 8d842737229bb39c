"""SQL persistence of the registry; the only registry module that writes SQL.

Every change of an alias and its audit entry are written in one transaction, and the
alias only moves if it still points where the caller saw it (``expected``); a caller
that lost that race gets a ConflictError and its attempt is still logged, by a second
transaction, as a ``conflict``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import ConflictError, NotFoundError
from gapless.core.records import AuditEntry, ModelVersion
from gapless.core.refs import Ref
from gapless.stores.sql import MetadataStore, upsert
from gapless.stores.tables import model_aliases, model_audit, model_versions, registered_models


@dataclass(frozen=True)
class AliasState:
    """Where an alias points now (None: nowhere) and the revision that state has."""

    version: int | None
    version_id: int | None
    revision: int


@dataclass(frozen=True)
class Transition:
    """An alias change to apply and log: what the caller saw, where it goes, and why."""

    model: str
    action: str
    alias: str
    to_version: int | None
    expected: AliasState
    actor: str
    reason: str | None
    gates: Sequence[Mapping[str, Any]] = ()
    outcome: str = "applied"


class RegistryRepository:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # -- versions -----------------------------------------------------------------------
    def insert_version(self, name: str, fields: dict[str, Any], *, actor: str,
                       model_description: str | None = None) -> ModelVersion:
        """Record version N+1 of ``name`` (creating the model) and log the registration."""

        def work(conn: sa.Connection) -> int:
            now = time.time()
            upsert(conn, registered_models, [{
                "name": name, "description": model_description, "created_by": actor,
                "created_at": now}], keys=["name"], update=[])
            model_id = conn.execute(
                # Row lock on PostgreSQL so concurrent registrations number one after another.
                sa.select(registered_models.c.id).where(registered_models.c.name == name)
                .with_for_update()
            ).scalar_one()
            latest = conn.execute(sa.select(sa.func.max(model_versions.c.version)).where(
                model_versions.c.model_id == model_id)).scalar()
            version = (latest or 0) + 1
            version_id = conn.execute(model_versions.insert().values(
                model_id=model_id, version=version, created_by=actor, created_at=now,
                **fields).returning(model_versions.c.id)).scalar_one()
            conn.execute(model_audit.insert().values(
                model_id=model_id, action="register", alias=None, from_version=None,
                to_version=version, outcome="applied", actor=actor,
                reason=fields.get("description"), gates_json=None, created_at=now))
            return version_id

        version_id = self.store.write(work)
        with self.store.read() as conn:
            return _versions(conn, _select().where(model_versions.c.id == version_id))[0]

    def find(self, ref: Ref) -> ModelVersion:
        """The version ``ref`` names: a number, ``latest``, or an alias."""
        stmt = _select().where(registered_models.c.name == ref.name)
        if ref.version is not None:
            stmt = stmt.where(model_versions.c.version == ref.version)
        elif ref.selector == "latest":
            stmt = stmt.order_by(model_versions.c.version.desc()).limit(1)
        else:
            stmt = stmt.join(model_aliases, model_aliases.c.version_id == model_versions.c.id
                             ).where(model_aliases.c.alias == ref.selector)
        with self.store.read() as conn:
            found = _versions(conn, stmt)
            if not found:
                raise NotFoundError(self._missing(conn, ref))
            return found[0]

    def versions(self, name: str) -> list[ModelVersion]:
        with self.store.read() as conn:
            found = _versions(conn, _select().where(registered_models.c.name == name)
                              .order_by(model_versions.c.version))
            if not found:
                raise NotFoundError(self._missing(conn, Ref(name)))
            return found

    def by_run(self, run_id: str) -> list[ModelVersion]:
        with self.store.read() as conn:
            return _versions(conn, _select().where(model_versions.c.run_id == run_id)
                             .order_by(registered_models.c.name, model_versions.c.version))

    def models(self) -> list[dict[str, Any]]:
        """One summary per registered model: latest version, aliases, when last changed."""
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(registered_models.c.id, registered_models.c.name,
                          registered_models.c.description, registered_models.c.created_at,
                          sa.func.max(model_versions.c.version).label("latest"),
                          sa.func.count(model_versions.c.id).label("count"))
                .join(model_versions, model_versions.c.model_id == registered_models.c.id)
                .group_by(registered_models.c.id).order_by(registered_models.c.name)
            ).all()
            aliases = _aliases(conn, [r.id for r in rows])
        return [{"name": r.name, "description": r.description, "latest": r.latest,
                 "versions": r.count, "aliases": aliases.get(r.id, {}),
                 "created_at": r.created_at} for r in rows]

    # -- aliases ------------------------------------------------------------------------
    def alias_state(self, name: str, alias: str) -> AliasState:
        with self.store.read() as conn:
            return _alias_state(conn, self._model_id(conn, name), alias)

    def move_alias(self, change: Transition) -> None:
        """Point the alias at ``change.to_version`` (None removes it) and log it, atomically;
        refuse, and log the attempt as a conflict, if the alias moved since it was read."""

        def work(conn: sa.Connection) -> AliasState | None:
            model_id = self._model_id(conn, change.model)
            now_state = _alias_state(conn, model_id, change.alias, lock=True)
            if now_state != change.expected:
                return now_state
            target_id = None
            if change.to_version is not None:
                target_id = conn.execute(sa.select(model_versions.c.id).where(
                    model_versions.c.model_id == model_id,
                    model_versions.c.version == change.to_version)).scalar_one()
            key = (model_aliases.c.model_id == model_id) & (model_aliases.c.alias == change.alias)
            values = {"version_id": target_id, "revision": now_state.revision + 1,
                      "updated_by": change.actor, "updated_at": time.time()}
            if target_id is None:
                conn.execute(model_aliases.delete().where(key))
            elif now_state.version_id is None:
                conn.execute(model_aliases.insert().values(model_id=model_id,
                                                           alias=change.alias, **values))
            else:
                conn.execute(model_aliases.update().where(key).values(**values))
            _audit(conn, model_id, change, change.expected.version)
            return None

        try:
            moved = self.store.write(work)
        except ConflictError:  # a concurrent first assignment of the alias won the insert?
            moved = self.alias_state(change.model, change.alias)
            if moved == change.expected:  # no: the database refused for another reason
                raise
        if moved is not None:
            self.log_attempt(Transition(**{**change.__dict__, "outcome": "conflict"}))
            raise ConflictError(
                f"{change.model}: alias {change.alias!r} moved to "
                f"{_show(moved.version)} while this {change.action} was decided (it expected "
                f"{_show(change.expected.version)}); nothing changed — run it again"
            )

    def log_attempt(self, change: Transition) -> None:
        """Append an entry for a transition that was not applied (refused, conflict)."""

        def work(conn: sa.Connection) -> None:
            _audit(conn, self._model_id(conn, change.model), change, change.expected.version)

        self.store.write(work)

    def history(self, name: str, alias: str | None = None) -> list[AuditEntry]:
        """The audit log of ``name`` (optionally one alias), oldest first."""
        with self.store.read() as conn:
            model_id = self._model_id(conn, name)
            stmt = sa.select(model_audit).where(model_audit.c.model_id == model_id)
            if alias is not None:
                stmt = stmt.where(model_audit.c.alias == alias)
            rows = conn.execute(stmt.order_by(model_audit.c.id)).all()
        return [AuditEntry(
            id=r.id, model=name, action=r.action, alias=r.alias, from_version=r.from_version,
            to_version=r.to_version, outcome=r.outcome, actor=r.actor, reason=r.reason,
            gates=tuple(json.loads(r.gates_json)) if r.gates_json else (),
            created_at=r.created_at) for r in rows]

    # -- helpers ------------------------------------------------------------------------
    def _model_id(self, conn: sa.Connection, name: str) -> int:
        model_id = conn.execute(sa.select(registered_models.c.id).where(
            registered_models.c.name == name)).scalar()
        if model_id is None:
            raise NotFoundError(self._missing(conn, Ref(name)))
        return int(model_id)

    @staticmethod
    def _missing(conn: sa.Connection, ref: Ref) -> str:
        model_id = conn.execute(sa.select(registered_models.c.id).where(
            registered_models.c.name == ref.name)).scalar()
        if model_id is None:
            return (f"no registered model named {ref.name!r}; register one with "
                    f"`gapless train SPEC --register {ref.name}` or workspace.models.register")
        if ref.version is None and ref.selector != "latest":
            known = sorted(_aliases(conn, [model_id]).get(model_id, {}))
            return (f"model {ref.name!r} has no alias {ref.selector!r}; its aliases: "
                    f"{', '.join(known) or 'none'}")
        latest = conn.execute(sa.select(sa.func.max(model_versions.c.version)).where(
            model_versions.c.model_id == model_id)).scalar()
        return f"model {ref.name!r} has no version {ref.selector}; its latest is {latest}"


def _show(version: int | None) -> str:
    return "nothing" if version is None else f"version {version}"


def _audit(conn: sa.Connection, model_id: int, change: Transition,
           from_version: int | None) -> None:
    conn.execute(model_audit.insert().values(
        model_id=model_id, action=change.action, alias=change.alias,
        from_version=from_version, to_version=change.to_version, outcome=change.outcome,
        actor=change.actor, reason=change.reason,
        gates_json=json.dumps(list(change.gates), default=str) if change.gates else None,
        created_at=time.time()))


def _alias_state(conn: sa.Connection, model_id: int, alias: str, *,
                 lock: bool = False) -> AliasState:
    stmt = (sa.select(model_aliases.c.version_id, model_aliases.c.revision,
                      model_versions.c.version)
            .join(model_versions, model_versions.c.id == model_aliases.c.version_id)
            .where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias))
    row = conn.execute(stmt.with_for_update(of=model_aliases) if lock else stmt).first()
    if row is None:
        return AliasState(None, None, 0)
    return AliasState(row.version, row.version_id, row.revision)


def _aliases(conn: sa.Connection, model_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    if not model_ids:
        return out
    for model_id, alias, version in conn.execute(
        sa.select(model_aliases.c.model_id, model_aliases.c.alias, model_versions.c.version)
        .join(model_versions, model_versions.c.id == model_aliases.c.version_id)
        .where(model_aliases.c.model_id.in_(model_ids)).order_by(model_aliases.c.alias)
    ):
        out.setdefault(model_id, {})[alias] = version
    return out


def _select() -> sa.Select[Any]:
    return sa.select(model_versions, registered_models.c.name.label("model_name")).join(
        registered_models, registered_models.c.id == model_versions.c.model_id)


def _versions(conn: sa.Connection, stmt: sa.Select[Any]) -> list[ModelVersion]:
    rows = conn.execute(stmt).all()
    by_version: dict[int, list[str]] = {}
    if rows:
        for version_id, alias in conn.execute(
            sa.select(model_aliases.c.version_id, model_aliases.c.alias)
            .where(model_aliases.c.version_id.in_([r.id for r in rows]))
            .order_by(model_aliases.c.alias)
        ):
            by_version.setdefault(version_id, []).append(alias)
    return [ModelVersion(
        id=r.id, model=r.model_name, version=r.version, run_id=r.run_id, digest=r.digest,
        model_digest=r.model_digest, size=r.size, format=r.format, encrypted=bool(r.encrypted),
        signature=json.loads(r.signature_json) if r.signature_json else None,
        lineage=json.loads(r.lineage_json), metrics=json.loads(r.metrics_json),
        evaluation=json.loads(r.evaluation_json) if r.evaluation_json else None,
        tags=json.loads(r.tags_json), description=r.description, source=r.source,
        trusted_by=r.trusted_by, created_by=r.created_by, created_at=r.created_at,
        aliases=tuple(by_version.get(r.id, ()))) for r in rows]
