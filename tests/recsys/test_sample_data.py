"""The tourism generator: shape, integrity, determinism, and every planted property."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gapless.core.errors import ValidationError
from gapless.recsys.sample_data import (
    COLD_SHARE,
    REGIONS,
    SEASONS,
    TAGS,
    TASTES,
    TYPES,
    TourismData,
    make_tourism,
    season_of,
    write_tourism,
)

SMALL = {"n_tourists": 50, "n_destinations": 30, "n_visits": 500}
MEDIUM = {"n_tourists": 800, "n_destinations": 300, "n_visits": 16_000}


@pytest.fixture(scope="module")
def small() -> TourismData:
    return make_tourism(**SMALL, seed=3)


@pytest.fixture(scope="module", params=[0, 1])
def medium(request: pytest.FixtureRequest) -> TourismData:
    return make_tourism(**MEDIUM, seed=request.param)


@pytest.fixture(scope="module", params=[0, 1])
def joined(request: pytest.FixtureRequest) -> pd.DataFrame:
    """Visits with their tourist's and destination's columns, per tourist in time order."""
    data = make_tourism(**MEDIUM, seed=request.param)
    return (data.visits.merge(data.tourists, on="user_id").merge(data.destinations, on="item_id")
            .sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True))


def same_as_previous(frame: pd.DataFrame, column: str) -> float:
    """Share of a tourist's consecutive visit pairs (in frame order) sharing ``column``."""
    users = frame["user_id"].to_numpy()
    values = frame[column].to_numpy()
    pair = users[1:] == users[:-1]
    return float((values[1:] == values[:-1])[pair].mean())


# -- shape and integrity ----------------------------------------------------------------
def test_columns_and_dtypes(small: TourismData) -> None:
    assert list(small.tourists.columns) == ["user_id", "home_region", "age_band", "budget",
                                            "taste"]
    assert list(small.destinations.columns) == ["item_id", "name", "region", "type",
                                                "price_level", "best_season", "tags",
                                                "description", "popularity_rank"]
    assert list(small.visits.columns) == ["user_id", "item_id", "timestamp", "rating"]
    for frame, column in [(small.tourists, "user_id"), (small.destinations, "item_id"),
                          (small.destinations, "description"), (small.visits, "item_id")]:
        assert pd.api.types.is_string_dtype(frame[column])
    assert pd.api.types.is_datetime64_dtype(small.visits["timestamp"])
    assert pd.api.types.is_integer_dtype(small.visits["rating"])
    assert pd.api.types.is_integer_dtype(small.destinations["price_level"])
    assert small.tourists["user_id"].iloc[0] == "T00001"
    assert small.destinations["item_id"].iloc[0] == "D0001"
    assert (len(small.tourists), len(small.destinations), len(small.visits)) == (50, 30, 500)


def test_values_stay_in_their_vocabularies(small: TourismData) -> None:
    t, d, v = small.tourists, small.destinations, small.visits
    assert set(t["home_region"]) <= set(REGIONS) and set(d["region"]) <= set(REGIONS)
    assert set(t["budget"]) <= {"low", "mid", "high"}
    assert set(t["taste"]) <= set(TASTES)
    assert set(d["type"]) <= set(TYPES) and set(d["best_season"]) <= set(SEASONS)
    assert d["price_level"].between(1, 4).all() and v["rating"].between(1, 5).all()
    tags = d["tags"].str.split()
    assert tags.map(len).between(3, 6).all()
    assert tags.map(lambda row: len(set(row)) == len(row) and set(row) <= set(TAGS)).all()
    assert sorted(d["popularity_rank"]) == list(range(1, len(d) + 1))
    assert all(region.replace("_", " ") in text
               for region, text in zip(d["region"], d["description"], strict=True))


def test_ids_are_unique_present_and_referenced(small: TourismData) -> None:
    t, d, v = small.tourists, small.destinations, small.visits
    assert t["user_id"].is_unique and d["item_id"].is_unique
    for frame, column in [(t, "user_id"), (d, "item_id"), (v, "user_id"), (v, "item_id")]:
        assert frame[column].notna().all()
    assert v["user_id"].isin(t["user_id"]).all()
    assert v["item_id"].isin(d["item_id"]).all()
    assert v.notna().all().all()


def test_visits_are_ordered_in_the_window(small: TourismData) -> None:
    stamps = small.visits["timestamp"]
    assert stamps.is_monotonic_increasing
    assert stamps.min() >= pd.Timestamp("2024-01-01")
    assert stamps.max() < pd.Timestamp("2024-01-01") + pd.Timedelta(days=730)


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    first, again = make_tourism(**SMALL, seed=7), make_tourism(**SMALL, seed=7)
    other = make_tourism(**SMALL, seed=8)
    for name in ("tourists", "destinations", "visits"):
        assert getattr(first, name).equals(getattr(again, name))
    assert not first.visits.equals(other.visits)


@pytest.mark.parametrize("sizes", [(1, 1, 2), (2, 2, 4), (50, 30, 500)])
def test_tiny_sizes_work(sizes: tuple[int, int, int]) -> None:
    data = make_tourism(*sizes, seed=0, days=3)
    assert len(data.visits) == sizes[2]
    assert data.visits["item_id"].isin(data.destinations["item_id"]).all()


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"n_tourists": 0}, "n_tourists"),
    ({"n_destinations": -3}, "n_destinations"),
    ({"n_visits": 0}, "n_visits"),
    ({"days": 0}, "days"),
    ({"n_tourists": 2.5}, "n_tourists"),
    ({"n_tourists": 100, "n_visits": 150}, "n_visits"),
    ({"start": "not a date"}, "start"),
])
def test_bad_input_names_the_argument(kwargs: dict, named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        make_tourism(**{**SMALL, **kwargs})


# -- planted properties -----------------------------------------------------------------
def test_popularity_has_a_long_tail(medium: TourismData) -> None:
    counts = (medium.visits["item_id"].value_counts()
              .reindex(medium.destinations["item_id"], fill_value=0)
              .sort_values(ascending=False))
    top = counts.iloc[: len(counts) // 10].sum() / counts.sum()
    assert top > 0.4


def test_cold_destinations_are_never_visited(medium: TourismData) -> None:
    d = medium.destinations
    n_cold = round(COLD_SHARE * len(d))
    cold = d.loc[d["popularity_rank"] > len(d) - n_cold, "item_id"]
    assert len(cold) == n_cold > 0
    assert not medium.visits["item_id"].isin(cold).any()


def test_tourists_mostly_visit_and_like_their_taste(joined: pd.DataFrame) -> None:
    preferred = np.array([kind in TASTES[taste]["types"]
                          for kind, taste in zip(joined["type"], joined["taste"], strict=True)])
    assert preferred.mean() > 0.6
    ratings = joined["rating"].to_numpy()
    assert ratings[preferred].mean() > ratings[~preferred].mean() + 0.5


def test_visits_favour_the_best_season(joined: pd.DataFrame) -> None:
    season = season_of(joined["timestamp"])
    matched = (season == joined["best_season"].to_numpy()).mean()
    shuffled = (np.random.default_rng(0).permutation(season)
                == joined["best_season"].to_numpy()).mean()
    assert matched > 0.35
    assert matched > shuffled + 0.1


def test_season_of_follows_the_meteorological_seasons() -> None:
    stamps = pd.to_datetime(["2024-01-15", "2024-03-01", "2024-08-31", "2024-11-30",
                             "2024-12-01"])
    assert list(season_of(stamps)) == ["winter", "spring", "summer", "autumn", "winter"]


def test_consecutive_visits_share_a_region(joined: pd.DataFrame) -> None:
    consecutive = same_as_previous(joined, "region")
    shuffled = joined.assign(key=np.random.default_rng(0).random(len(joined)))
    shuffled = shuffled.sort_values(["user_id", "key"], kind="stable")
    assert consecutive > same_as_previous(shuffled, "region") + 0.1


def test_high_budgets_visit_dearer_places(joined: pd.DataFrame) -> None:
    price = joined.groupby("budget")["price_level"].mean()
    assert price["high"] > price["mid"] > price["low"]
    assert price["high"] > price["low"] + 0.4


def test_activity_is_heavy_tailed_with_two_visits_each(medium: TourismData) -> None:
    counts = medium.visits["user_id"].value_counts()
    assert len(counts) == len(medium.tourists)
    assert counts.min() >= 2
    assert counts.max() >= 5 * counts.median()
    top = counts.sort_values(ascending=False).iloc[: len(counts) // 10].sum() / counts.sum()
    assert top > 0.25


# -- storage ----------------------------------------------------------------------------
def test_write_tourism_stores_three_versions(workspace, small: TourismData) -> None:
    refs = write_tourism(workspace, small, prefix="trips")
    assert set(refs) == {"tourists", "destinations", "visits"}
    for table, ref in refs.items():
        assert ref.startswith(f"trips-{table}@")
        frame = getattr(small, table)
        assert workspace.data.get(ref).row_count == len(frame)
    loaded = workspace.data.load(refs["visits"])
    assert list(loaded.columns) == list(small.visits.columns)
