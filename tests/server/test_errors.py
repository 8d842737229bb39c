"""Every error of the tree maps to one HTTP status; request errors keep field and row."""

from __future__ import annotations

import inspect

import gapless.core.errors as errors
from gapless.server.errors import error_body, status_of


def test_every_error_class_has_a_status_and_bad_input_is_4xx() -> None:
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.GaplessError) and cls not in (
                errors.FilterSyntaxError, errors.PromotionRefusedError, errors.RequestError):
            status = status_of(cls("x"))
            assert 400 <= status < 600
            if issubclass(cls, errors.ValidationError | errors.NotFoundError):
                assert status < 500


def test_request_errors_carry_their_status_field_and_row() -> None:
    error = errors.RequestError("row 3, field `income`: expected a number", status=422,
                                field="income", row=3)
    assert status_of(error) == 422
    assert error_body(error) == {"error": "RequestError", "field": "income", "row": 3,
                                 "message": "row 3, field `income`: expected a number"}
    refused = errors.PromotionRefusedError("no", gates=[{"gate": "g", "passed": False}])
    assert status_of(refused) == 409 and error_body(refused)["gates"][0]["gate"] == "g"
    assert status_of(errors.FilterSyntaxError("bad", text="a >", position=3)) == 422
