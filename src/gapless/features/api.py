"""``workspace.features``: feature views, their versions, and training sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gapless.core.errors import ValidationError
from gapless.features.offline import parse_features, point_in_time
from gapless.features.registry import Applied, ViewRegistry, ViewVersion
from gapless.features.views import load_views


class Features:
    """Feature views over a workspace's datasets (see :mod:`gapless.features.views`)."""

    def __init__(self, data: Any, metadata: Any, root: Path, online_uri: str) -> None:
        self.data = data  # gapless.data.versions.DataVersions
        self.registry = ViewRegistry(metadata)
        self.root = root
        self.online_uri = online_uri
        self._online: Any = None

    @property
    def online_store(self) -> Any:
        """The online store (``online_uri``: SQLite by default, Redis in production)."""
        if self._online is None:
            from gapless.stores.online import open_online_store

            self._online = open_online_store(self.online_uri)
        return self._online

    def materialize(self, name: str, *, until: float | None = None,
                    since: float | None = None) -> Any:
        """Write view ``name`` (latest version, or NAME@VERSION) into the online store
        as of ``until`` (default now); ``since``: only entities with newer source rows.
        See :mod:`gapless.features.materialize`."""
        import time

        from gapless.features.materialize import materialize

        found = self.registry.get(name)
        path, _ = self._source(found.view)
        return materialize(self.online_store, found, path,
                           until=time.time() if until is None else until, since=since)

    def online(self, keys: Sequence[Any], features: Sequence[str]) -> list[dict[str, Any]]:
        """Per entity key (a value, or a tuple for compound keys), the requested features
        (``view:feature`` or ``view``) from the online store, in key order; a feature
        the store has no value for is None. One read per view, however many keys."""
        out: list[dict[str, Any]] = [{} for _ in keys]
        for ref, names in parse_features(features).items():
            found = self.registry.get(ref)
            chosen = names or [f.name for f in found.view.features]
            for name in chosen:
                found.view.feature(name)
            wanted = [k if isinstance(k, tuple) else (k,) for k in keys]
            if any(len(k) != len(found.view.entities) for k in wanted):
                raise ValidationError(f"feature view {found.ref} is keyed by "
                                      f"{found.view.entities}; give one value per key part")
            rows = self.online_store.read(found.view.name, found.version,
                                          [tuple(str(p) for p in k) for k in wanted], chosen)
            for target, row in zip(out, rows, strict=True):
                for name in chosen:
                    target[name] = None if row is None else row.get(name)
        return out

    def close(self) -> None:
        if self._online is not None:
            self._online.close()
            self._online = None

    def apply(self, spec: Any) -> list[Applied]:
        """Register the views of ``spec`` (YAML path, mapping, list or view); a changed
        definition becomes the next version, an unchanged one stays as it is."""
        return [self.registry.apply(view) for view in load_views(spec)]

    def views(self) -> list[ViewVersion]:
        """The latest version of every view."""
        return self.registry.list()

    def get(self, name: str) -> ViewVersion:
        """``NAME`` (latest) or ``NAME@VERSION``."""
        return self.registry.get(name)

    def training_set(self, entity_df: Any, features: Sequence[str] | Mapping[str, Sequence[str]],
                     *, timestamp: str | None = "event_timestamp",
                     save_as: str | None = None) -> Any:
        """``entity_df`` (entity keys and a ``timestamp`` column; a DataFrame or a dataset
        NAME@VERSION, then also a parent of the saved set) with each feature as it
        was at each row's time (:mod:`gapless.features.offline`). ``features``:
        ``["view:feature", "view@2:other", "whole_view"]``. ``save_as`` also stores the
        result as the next version of that dataset, with the views' versions and sources
        in its spec and their source datasets as parents; then ``(frame, ref)``."""
        requests, lineage, parents = [], {}, []
        if isinstance(entity_df, str):  # a dataset: loaded, and a parent of the result
            rows = self.data.get(entity_df)
            entity_df = self.data.load(rows.ref)
            parents.append(rows.ref)
        for ref, names in parse_features(features).items():
            found = self.registry.get(ref)
            view = found.view
            chosen = names or [f.name for f in view.features]
            for name in chosen:
                view.feature(name)  # a clear error for a name the view lacks
            path, source = self._source(view)
            requests.append((view, path, chosen))
            lineage[found.ref] = {"features": chosen, "source": source}
            if view.source.parquet is None:
                parents.append(source)
        names = [n for _, _, chosen in requests for n in chosen]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValidationError(f"feature name(s) {twice} come from more than one view; "
                                  "ask for one of them")
        frame = point_in_time(entity_df, requests, timestamp=timestamp)
        if save_as is None:
            return frame
        added = self.data.add(save_as, frame, parents=sorted(set(parents)), kind="derived",
                              spec={"feature_views": lineage, "timestamp": timestamp},
                              description="training set joined point in time from "
                                          + ", ".join(lineage))
        return frame, added.version.ref

    def _source(self, view: Any) -> tuple[str, str]:
        """The Parquet path of a view's source, and what it was (a dataset version)."""
        if view.source.sql is not None:  # snapshotted: a new version only when it changed
            added = self.data.add(f"features.{view.name}", view.source.database_url(),
                                  query=view.source.sql, time_column=view.timestamp,
                                  description=f"source of feature view {view.name}",
                                  column_types={view.timestamp: "datetime"}
                                  if view.timestamp else None)
            return str(self.data.path(added.version)), added.version.ref
        if view.source.dataset is not None:
            version = self.data.get(view.source.dataset)
            return str(self.data.path(version)), version.ref
        path = Path(view.source.parquet)
        path = path if path.is_absolute() else self.root / path
        if not path.exists():
            raise ValidationError(f"feature view {view.name!r}: its source {path} does not "
                                  "exist")
        return str(path), str(path)
