"""What-if: one row's prediction as one feature moves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gapless.core.errors import ValidationError
from gapless.evaluation import what_if


def test_regression_moves_monotonically_with_a_positive_weight(diabetes) -> None:
    X, _, model = diabetes
    row = X.iloc[0]
    values = [-0.05, 0.0, 0.05, 0.1]
    results = what_if(model, row, "bmi", values)
    json.dumps(results, allow_nan=False)
    assert [r["value"] for r in results] == values
    predictions = [r["prediction"] for r in results]
    assert np.all(np.diff(predictions) > 0)
    expected = model.predict(X.iloc[[0] * 4].assign(bmi=values))
    assert predictions == pytest.approx(expected.tolist())
    base = model.predict(X.iloc[[0]])[0]
    assert results[0]["change"] == pytest.approx(predictions[0] - base)
    assert "probabilities" not in results[0]


def test_classifier_probabilities(planted) -> None:
    X, _, model = planted
    row = X.iloc[5].to_dict()
    results = what_if(model, row, "leak", [-1.0, 0.0, 1.0, 2.0, 3.0])
    json.dumps(results, allow_nan=False)
    good = [r["probabilities"]["good"] for r in results]
    assert np.all(np.diff(good) < 0)  # the leak marks "bad"
    assert all(sum(r["probabilities"].values()) == pytest.approx(1.0) for r in results)
    assert [r["score"] for r in results] == good
    assert {r["prediction"] for r in results} <= {"good", "bad"}
    homes = what_if(model, row, "Home", ["rent", "owner", None])
    assert len(homes) == 3 and homes[2]["value"] is None


def test_multiclass_has_probabilities_but_no_score(iris) -> None:
    X, _, model = iris
    results = what_if(model, X.iloc[0], "petal length (cm)", [1.0, 5.0])
    assert results[0]["prediction"] == "setosa" and "score" not in results[0]
    assert set(results[1]["probabilities"]) == {"setosa", "versicolor", "virginica"}


def test_unknown_feature_and_missing_columns(diabetes) -> None:
    X, _, model = diabetes
    with pytest.raises(ValidationError) as caught:
        what_if(model, X.iloc[0], "height", [1, 2])
    assert "`height`" in str(caught.value) and "bmi" in str(caught.value)
    with pytest.raises(ValidationError, match="lacks column"):
        what_if(model, {"bmi": 0.1}, "bmi", [0.2])
