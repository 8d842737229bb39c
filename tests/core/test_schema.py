"""Signatures inferred from training data, and their JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gapless.core.errors import ValidationError
from gapless.core.schema import MAX_CATEGORIES, Signature, infer_signature


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [21, 35, 62, 40],
        "income": [1000.5, np.nan, 3000.0, 2500.0],
        "region": ["north", "south", None, "north"],
        "active": [True, False, True, True],
        "applied": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]),
        "note": [f"free text {i}" for i in range(4)],
    })


def test_types_ranges_categories_and_nullability(frame: pd.DataFrame) -> None:
    y = pd.Series(["no", "yes", "no", "yes"])
    signature = infer_signature(frame, y, problem="binary")
    age, income, region = (signature.column(n) for n in ("age", "income", "region"))
    assert (age.type, age.nullable, age.minimum, age.maximum) == ("integer", False, 21, 62)
    assert (income.type, income.nullable, income.maximum) == ("float", True, 3000.0)
    assert region.type == "string" and region.nullable and region.categories == ("north", "south")
    assert signature.column("active").categories == (False, True)
    assert signature.column("applied").minimum == "2024-01-01T00:00:00"
    assert signature.output.classes == ("no", "yes") and signature.output.problem == "binary"


def test_many_distinct_values_are_free_text_not_categories() -> None:
    texts = pd.DataFrame({"note": [f"t{i}" for i in range(MAX_CATEGORIES + 1)]})
    assert infer_signature(texts, problem="regression").column("note").categories is None


def test_json_round_trip_is_exact(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame, pd.Series([0, 1, 0, 1]), problem="binary",
                                classes=np.array([0, 1]))
    again = Signature.from_dict(json.loads(json.dumps(signature.to_dict())))
    assert again == signature and again.output.classes == (0, 1)
    assert infer_signature(frame, problem="clustering").output.type == "integer"


def test_malformed_signatures_are_refused_with_the_field() -> None:
    with pytest.raises(ValidationError, match="malformed.*'output'"):
        Signature.from_dict({"inputs": []})
    with pytest.raises(ValidationError, match="'x': type 'decimal'"):
        Signature.from_dict({"inputs": [{"name": "x", "type": "decimal"}],
                             "output": {"problem": "regression", "type": "float"}})
