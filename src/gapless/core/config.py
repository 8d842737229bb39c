"""Settings: where a workspace keeps metadata, artifacts, online features and compute.

Each setting resolves as explicit argument > ``GAPLESS_*`` environment variable >
``gapless.yaml`` > default, once, when a workspace opens; nothing reads the
environment later. Relative paths and relative SQLite URIs are taken relative to
the workspace root, not the current directory, so a workspace behaves the same
from wherever it is opened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gapless.core.errors import ConfigError

CONFIG_FILE = "gapless.yaml"
STATE_DIR = ".gapless"

DEFAULTS: dict[str, Any] = {
    "metadata_uri": f"sqlite:///{STATE_DIR}/meta.db",
    "artifact_uri": f"{STATE_DIR}/artifacts",
    "online_uri": f"sqlite:///{STATE_DIR}/online.db",
    "compute_uri": "local",
    "artifact_options": {},
    "encryption_key": None,
    "api_key": None,
    "admins": (),
}

# Settings that hold secrets: never written to gapless.yaml by `init`, never shown in repr.
SECRET_KEYS = frozenset({"encryption_key", "api_key"})


@dataclass(frozen=True)
class Settings:
    """Resolved, absolute settings of one workspace."""

    root: Path
    metadata_uri: str
    artifact_uri: str
    online_uri: str
    compute_uri: str
    artifact_options: Mapping[str, Any] = field(default_factory=dict)
    encryption_key: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    # Identities (GAPLESS_USER or login names) allowed to override a failed promotion gate.
    admins: tuple[str, ...] = ()

    @classmethod
    def load(cls, root: str | os.PathLike[str], **explicit: Any) -> Settings:
        """Resolve every setting for the workspace at ``root``.

        ``explicit`` values that are not None win over the environment, which wins
        over ``gapless.yaml``, which wins over the defaults.
        """
        root_path = Path(root).expanduser().resolve()
        names = [f.name for f in fields(cls) if f.name != "root"]
        unknown = set(explicit) - set(names)
        if unknown:
            raise ConfigError(
                f"unknown setting(s) {sorted(unknown)}; known settings are {sorted(names)}"
            )
        from_file = read_config_file(root_path / CONFIG_FILE, known=names)
        values: dict[str, Any] = {}
        for name in names:
            env_value = os.environ.get(f"GAPLESS_{name.upper()}")
            if explicit.get(name) is not None:
                values[name] = explicit[name]
            elif env_value not in (None, ""):
                values[name] = env_value
            elif name in from_file:
                values[name] = from_file[name]
            else:
                values[name] = DEFAULTS[name]
        if not isinstance(values["artifact_options"], Mapping):
            raise ConfigError(
                f"setting `artifact_options` must be a mapping of storage options, "
                f"got {type(values['artifact_options']).__name__}"
            )
        values["admins"] = _names(values["admins"], "admins")
        settings = cls(root=root_path, **values)
        return replace(
            settings,
            metadata_uri=absolute_sqlite_uri(settings.metadata_uri, root_path),
            online_uri=absolute_sqlite_uri(settings.online_uri, root_path),
            artifact_uri=absolute_location(settings.artifact_uri, root_path),
        )

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR


def _names(value: Any, setting: str) -> tuple[str, ...]:
    """A list setting given as a YAML list or a comma-separated string (environment)."""
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"setting `{setting}` must be a list of names or a comma-separated "
                          f"string, got {value!r}")
    return tuple(value)


def read_config_file(path: Path, *, known: list[str]) -> dict[str, Any]:
    """Read ``gapless.yaml``; a missing file means no overrides."""
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix the YAML or delete the file") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, got {type(data).__name__}")
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {sorted(unknown)}; known settings are {sorted(known)}"
        )
    return data


def default_config_text() -> str:
    """The commented ``gapless.yaml`` that ``gapless init`` writes."""
    lines = [
        "# gapless workspace settings. Each one can be overridden by an environment",
        "# variable GAPLESS_<NAME> (e.g. GAPLESS_METADATA_URI) or an explicit argument.",
        "# Relative paths are relative to this file's folder.",
        "",
        "# SQLite (embedded) or PostgreSQL: postgresql+psycopg://user@host:5432/db",
        f"metadata_uri: {DEFAULTS['metadata_uri']}",
        "# A local folder or any fsspec URI such as s3://bucket/prefix",
        f"artifact_uri: {DEFAULTS['artifact_uri']}",
        "# Options passed to fsspec for the artifact store, e.g. {endpoint_url: ...}",
        "artifact_options: {}",
        "# Online feature store: SQLite (embedded) or redis://host:6379/0",
        f"online_uri: {DEFAULTS['online_uri']}",
        "# Where work runs: local, dask-local or dask://host:port",
        f"compute_uri: {DEFAULTS['compute_uri']}",
        "# Who may override a failed promotion gate (GAPLESS_USER or login names)",
        "admins: []",
        "",
    ]
    return "\n".join(lines)


_SQLITE_PREFIX = re.compile(r"^(sqlite(?:\+\w+)?:///)(.*)$")


def absolute_sqlite_uri(uri: str, root: Path) -> str:
    """Make a relative SQLite file URI absolute against ``root``; leave others alone."""
    match = _SQLITE_PREFIX.match(uri)
    if not match:
        return uri
    prefix, path = match.groups()
    if path in ("", ":memory:") or path.startswith("/"):
        return uri
    return f"{prefix}{(root / path).resolve()}"


def absolute_location(location: str, root: Path) -> str:
    """Make a relative local path absolute against ``root``; leave URIs with a scheme alone."""
    if "://" in location:
        if location.startswith("file://"):
            return str(Path(location[len("file://") :]).expanduser().resolve())
        return location
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


_CREDENTIALS = re.compile(r"^([a-zA-Z][\w+.-]*://)([^/@]*@)")


def redact_uri(uri: str) -> str:
    """Strip user and password from a URI, so it can be logged or stored."""
    return _CREDENTIALS.sub(lambda m: m.group(1) + "***@", uri)
