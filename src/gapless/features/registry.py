"""Versions of feature views in the metadata store: applying a changed definition adds
the next version; an unchanged one is left as it is; none is ever altered."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from gapless.core.errors import NotFoundError
from gapless.core.identity import current_user
from gapless.features.views import FeatureView
from gapless.stores.sql import MetadataStore
from gapless.stores.tables import feature_views


@dataclass(frozen=True)
class ViewVersion:
    view: FeatureView
    version: int
    created_by: str
    created_at: float

    @property
    def ref(self) -> str:
        return f"{self.view.name}@{self.version}"


@dataclass(frozen=True)
class Applied:
    version: ViewVersion
    created: bool  # False: the definition was already the latest version


class ViewRegistry:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def apply(self, view: FeatureView) -> Applied:
        """Register ``view``; a new version only when its definition changed."""
        t = feature_views
        digest = view.digest

        def work(conn: sa.Connection) -> Applied:
            latest = conn.execute(sa.select(t).where(t.c.name == view.name)
                                  .order_by(t.c.version.desc()).limit(1)).first()
            if latest is not None and latest.digest == digest:
                return Applied(_version(latest), created=False)
            number = 1 if latest is None else latest.version + 1
            now = time.time()
            conn.execute(t.insert().values(
                name=view.name, version=number, digest=digest,
                spec_json=json.dumps(view.model_dump(exclude_none=True)),
                created_by=current_user(), created_at=now))
            return Applied(ViewVersion(view, number, current_user(), now), created=True)

        return self.store.write(work)

    def get(self, name: str, version: int | None = None) -> ViewVersion:
        """A view's version (default: the latest); ``name@3`` also works as ``name``."""
        if version is None and "@" in name:
            name, _, selector = name.partition("@")
            version = None if selector == "latest" else _number(selector, name)
        t = feature_views
        stmt = sa.select(t).where(t.c.name == name)
        stmt = (stmt.where(t.c.version == version) if version is not None
                else stmt.order_by(t.c.version.desc()).limit(1))
        with self.store.read() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            known = sorted({v.view.name for v in self.list()})
            what = f"{name}@{version}" if version is not None else name
            raise NotFoundError(f"no feature view {what!r}; the views are {known or 'none'}"
                                "; register one with `gapless features apply SPEC`")
        return _version(row)

    def list(self) -> list[ViewVersion]:
        """The latest version of every view."""
        t = feature_views
        latest = (sa.select(t.c.name, sa.func.max(t.c.version).label("version"))
                  .group_by(t.c.name).subquery())
        stmt = sa.select(t).join(latest, sa.and_(t.c.name == latest.c.name,
                                                 t.c.version == latest.c.version))
        with self.store.read() as conn:
            return [_version(row) for row in conn.execute(stmt.order_by(t.c.name))]


def _version(row: Any) -> ViewVersion:
    return ViewVersion(FeatureView.model_validate(json.loads(row.spec_json)), row.version,
                       row.created_by, row.created_at)


def _number(text: str, name: str) -> int:
    from gapless.core.errors import ValidationError

    if not text.isdigit():
        raise ValidationError(f"feature view {name}@{text}: after '@' give a version number "
                              "or 'latest'")
    return int(text)
