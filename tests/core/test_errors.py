from __future__ import annotations

import inspect

import gapless.core.errors as errors


def test_every_error_derives_from_gapless_error_and_is_drawn_in_the_docstring() -> None:
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, Exception)]
    assert classes
    for cls in classes:
        assert issubclass(cls, errors.GaplessError)
        assert cls.__name__ in errors.__doc__
    assert sorted(errors.__all__) == sorted(cls.__name__ for cls in classes)


def test_filter_syntax_error_is_one_line_with_position() -> None:
    exc = errors.FilterSyntaxError("expected a value", text="metrics.a >", position=11)
    assert "\n" not in str(exc) and "position 11" in str(exc) and exc.position == 11
