"""Spec files users write (pipelines, feature views, alert rules): YAML read with errors
that name the file, so a typo in a path or an indentation is one clear line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gapless.core.errors import ValidationError


def read_yaml(path: str | os.PathLike[str], what: str) -> Any:
    """The YAML document in ``path``; ValidationError "``what`` PATH: ..." when the file
    is missing or cannot be read or parsed."""
    import yaml

    where = f"{what} {path}"
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValidationError(f"{where}: cannot be read: {exc}") from exc


def parse_model(model: Any, data: Any, origin: str) -> Any:
    """Validate ``data`` (a mapping) with the pydantic ``model``; its errors become one
    ValidationError "``origin``: `field.path`: why; ..." (the first five)."""
    import pydantic

    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            problems.append(f"`{where}`: {error['msg']}")
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise ValidationError(f"{origin}: " + "; ".join(problems) + more) from exc
