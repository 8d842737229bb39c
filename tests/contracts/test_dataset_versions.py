"""Dataset versions behave the same on every metadata store and artifact store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gapless import IntegrityError, NotFoundError, ValidationError, Workspace
from gapless.stores.artifacts import blob_key


@pytest.fixture
def ws(metadata_uri: str, artifact_location: tuple[str, dict], tmp_path: Path):
    uri, options = artifact_location
    workspace = Workspace(tmp_path / "ws", metadata_uri=metadata_uri, artifact_uri=uri,
                          artifact_options=options)
    yield workspace
    workspace.close()


@pytest.fixture
def loans() -> pd.DataFrame:
    return pd.DataFrame({
        "id": range(1, 201),
        "region": ["north", "south", "east", "west"] * 50,
        "income": [float(1000 + i * 10) if i % 7 else None for i in range(200)],
        "applied": pd.date_range("2024-01-01", periods=200, freq="D"),
    })


def test_versions_are_numbered_and_identical_content_is_not_repeated(
    ws: Workspace, loans: pd.DataFrame, tmp_path: Path
) -> None:
    first = ws.data.add("loans", loans, time_column="applied", description="first cut")
    assert first.created and first.version.ref == "loans@1"
    csv = tmp_path / "loans.csv"
    loans.to_csv(csv, index=False)
    again = ws.data.add("loans", loans)
    assert not again.created and again.version.ref == "loans@1"
    assert "identical to loans@1" in again.message
    second = ws.data.add("loans", loans.iloc[:150])
    assert second.version.ref == "loans@2"
    assert ws.data.get("loans").ref == ws.data.get("loans@latest").ref == "loans@2"
    assert ws.data.get("loans@1").description == "first cut"
    assert [v.ref for v in ws.data.versions("loans")] == ["loans@1", "loans@2"]


def test_a_version_records_schema_stats_and_source(ws: Workspace, loans: pd.DataFrame) -> None:
    version = ws.data.add("loans", loans, time_column="applied").version
    assert version.row_count == 200 and version.time_column == "applied"
    assert version.source_uri == "python:pandas.DataFrame" and version.created_by
    income = version.column("income")
    assert income["semantic"] == "float"
    assert income["null_count"] == loans.income.isna().sum()
    assert income["mean"] == pytest.approx(loans.income.mean())
    assert version.column("region")["semantic"] == "categorical"
    assert version.column("id")["semantic"] == "identifier"
    assert version.column("applied")["semantic"] == "datetime"


def test_load_returns_the_same_data(ws: Workspace, loans: pd.DataFrame) -> None:
    ws.data.add("loans", loans)
    loaded = ws.data.load("loans@1")
    pd.testing.assert_frame_equal(loaded, loans, check_dtype=False)
    assert list(ws.data.load("loans@1", columns=["region"]).columns) == ["region"]
    with pytest.raises(ValidationError, match=r"no column\(s\) \['nope'\]"):
        ws.data.load("loans@1", columns=["nope"])


def test_reading_a_corrupt_snapshot_fails_loudly(ws: Workspace, loans: pd.DataFrame,
                                                 tmp_path: Path) -> None:
    version = ws.data.add("loans", loans).version
    for cached in ws.data.cache_dir.glob("*.parquet"):
        cached.unlink()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not the snapshot")
    ws.artifacts.bytes.put_file(bad, blob_key(version.digest))
    with pytest.raises(IntegrityError, match=version.digest):
        ws.data.load("loans@1")


def test_unknown_names_and_versions(ws: Workspace, loans: pd.DataFrame) -> None:
    with pytest.raises(NotFoundError, match="no dataset named 'ghost'"):
        ws.data.get("ghost")
    ws.data.add("loans", loans)
    with pytest.raises(NotFoundError, match="has no version 9; its latest is 1"):
        ws.data.get("loans@9")
    with pytest.raises(ValidationError, match="not valid"):
        ws.data.add("../escape", loans)
    with pytest.raises(ValidationError, match="time column 'when' is not among"):
        ws.data.add("loans", loans, time_column="when")
    with pytest.raises(ValidationError, match="time column 'region' holds string"):
        ws.data.add("loans", loans, time_column="region")


def test_a_failed_add_leaves_no_version_and_no_files(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    lines = ["a,b"] + [f"{i},{i}" for i in range(1_000_000)] + ["1,2,3"]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationError, match=r"line 1000002"):
        ws.data.add("broken", str(path))
    assert ws.data.versions() == []
    scratch = ws.data.scratch_dir
    assert not scratch.exists() or list(scratch.iterdir()) == []
    assert list(ws.data.cache_dir.glob("*")) == [] if ws.data.cache_dir.exists() else True


def test_lineage_goes_back_to_the_sources(ws: Workspace, loans: pd.DataFrame) -> None:
    raw = ws.data.add("loans", loans).version
    cleaned = ws.data.add("loans_clean", loans.dropna(), parents=[raw.ref], kind="clean",
                          spec={"missing": {"income": {"strategy": "drop_rows"}}}).version
    assert cleaned.parents == ("loans@1",) and cleaned.spec["missing"]["income"]
    tree = ws.data.lineage("loans_clean@1")
    assert tree.version.ref == "loans_clean@1"
    assert [p.version.ref for p in tree.parents] == ["loans@1"]
    assert tree.parents[0].version.source_uri == "python:pandas.DataFrame"
    with pytest.raises(NotFoundError):
        ws.data.add("x", loans, parents=["nope@1"])


def test_validate_quarantine_and_clean(ws: Workspace, loans: pd.DataFrame) -> None:
    ref = ws.data.add("loans", loans, time_column="applied").version.ref
    outcome = ws.data.validate(ref, {"columns": {"income": {"not_null": True}}},
                               on_fail="quarantine")
    assert outcome.quarantine.row_count == loans.income.isna().sum()
    assert ws.data.validations(ref)[0]["quarantine_id"] == outcome.quarantine.id
    cleaned = ws.data.clean(ref, {"missing": {"income": {"strategy": "mean"}}}).version
    assert ws.data.load(cleaned).income.isna().sum() == 0
    assert cleaned.parents == (ref,) and cleaned.time_column == "applied"
