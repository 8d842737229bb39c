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

    def __init__(self, data: Any, metadata: Any, root: Path) -> None:
        self.data = data  # gapless.data.versions.DataVersions
        self.registry = ViewRegistry(metadata)
        self.root = root

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
        """``entity_df`` (entity keys and a ``timestamp`` column) with each feature as it
        was at each row's time (:mod:`gapless.features.offline`). ``features``:
        ``["view:feature", "view@2:other", "whole_view"]``. ``save_as`` also stores the
        result as the next version of that dataset, with the views' versions and sources
        in its spec and their source datasets as parents; then ``(frame, ref)``."""
        requests, lineage, parents = [], {}, []
        for ref, names in parse_features(features).items():
            found = self.registry.get(ref)
            view = found.view
            chosen = names or [f.name for f in view.features]
            for name in chosen:
                view.feature(name)  # a clear error for a name the view lacks
            path, source = self._source(view)
            requests.append((view, path, chosen))
            lineage[found.ref] = {"features": chosen, "source": source}
            if view.source.dataset is not None:
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
        if view.source.dataset is not None:
            version = self.data.get(view.source.dataset)
            return str(self.data.path(version)), version.ref
        path = Path(view.source.parquet)
        path = path if path.is_absolute() else self.root / path
        if not path.exists():
            raise ValidationError(f"feature view {view.name!r}: its source {path} does not "
                                  "exist")
        return str(path), str(path)
