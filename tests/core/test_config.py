from __future__ import annotations

from pathlib import Path

import pytest

from gapless import ConfigError
from gapless.core.config import Settings, redact_uri


def test_defaults_live_under_the_workspace_root(tmp_path: Path) -> None:
    settings = Settings.load(tmp_path)
    assert settings.metadata_uri == f"sqlite:///{tmp_path.resolve()}/.gapless/meta.db"
    assert settings.artifact_uri == str(tmp_path.resolve() / ".gapless" / "artifacts")
    assert settings.compute_uri == "local"


def test_explicit_beats_environment_beats_file_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gapless.yaml").write_text(
        "artifact_uri: from-file\ncompute_uri: dask-local\nonline_uri: redis://127.0.0.1:6379/0\n"
    )
    monkeypatch.setenv("GAPLESS_ARTIFACT_URI", "s3://from-env/prefix")
    monkeypatch.setenv("GAPLESS_COMPUTE_URI", "dask://127.0.0.1:8786")
    settings = Settings.load(tmp_path, compute_uri="local")
    assert settings.compute_uri == "local"  # explicit
    assert settings.artifact_uri == "s3://from-env/prefix"  # environment
    assert settings.online_uri == "redis://127.0.0.1:6379/0"  # file
    assert settings.metadata_uri.endswith("/.gapless/meta.db")  # default


def test_relative_paths_resolve_against_the_root_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gapless.yaml").write_text("metadata_uri: sqlite:///db/m.db\nartifact_uri: blobs\n")
    monkeypatch.chdir("/")
    settings = Settings.load(tmp_path)
    assert settings.metadata_uri == f"sqlite:///{tmp_path.resolve()}/db/m.db"
    assert settings.artifact_uri == str(tmp_path.resolve() / "blobs")


def test_unknown_setting_in_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "gapless.yaml").write_text("metadata_url: sqlite:///x.db\n")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['metadata_url'\]"):
        Settings.load(tmp_path)


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "gapless.yaml").write_text("metadata_uri: [unclosed\n")
    with pytest.raises(ConfigError, match="gapless.yaml"):
        Settings.load(tmp_path)


def test_unknown_explicit_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings.load(tmp_path, metadata="sqlite://")


def test_secrets_are_not_in_repr(tmp_path: Path) -> None:
    settings = Settings.load(tmp_path, api_key="s3cr3t", encryption_key="k3y")
    assert "s3cr3t" not in repr(settings) and "k3y" not in repr(settings)


def test_credentials_are_redacted() -> None:
    assert redact_uri("postgresql+psycopg://bob:pw@db:5432/x") == "postgresql+psycopg://***@db:5432/x"
    assert redact_uri("sqlite:///a/b.db") == "sqlite:///a/b.db"
