"""Pipeline specs: named steps, what each uses, its parameters, and what it reads.

A spec is YAML (or the same shape as a dict)::

    name: retrain-churn
    params: {dataset: churn}              # ${params.dataset} anywhere below
    steps:
      - name: ingest
        uses: ingest                      # a built-in step (see gapless.pipelines.steps)
        with: {name: "${params.dataset}", source: data/churn.csv}
      - name: train
        uses: train
        with: {spec: train.yaml, dataset: "${steps.ingest.dataset}"}
      - name: report
        uses: python:my_project.steps:report   # a function decorated with @step
        with: {run_id: "${steps.train.run_id}"}
        needs: [ingest]                   # ordering beyond what the references imply

``${steps.NAME.OUTPUT}`` reads an output of an earlier step and makes it a dependency;
``${params.NAME}`` reads a parameter. A value that is exactly one reference keeps the
referenced value's type; a reference inside longer text is put in as text. ``schedule``
and ``triggers`` are read by the scheduler (:mod:`gapless.pipelines.schedules`);
``executor`` (a compute URI) says where the steps run when the caller does not.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from gapless.core.errors import ValidationError
from gapless.stores.specfiles import read_yaml

NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"
REFERENCE = re.compile(r"\$\{\s*(steps|params)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_.-]+))?\s*\}")


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(pattern=NAME)
    uses: str = Field(min_length=1)
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    needs: list[str] = Field(default_factory=list)
    cache: bool = True  # false: run every time, even when nothing it reads changed


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME)
    description: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    schedule: Any = None
    triggers: Any = None
    executor: str | None = None  # where the steps run unless the caller says
    steps: list[StepSpec] = Field(min_length=1)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    def canonical(self) -> str:
        return json.dumps(self.model_dump(by_alias=True), sort_keys=True, default=str)

    def step(self, name: str) -> StepSpec:
        return next(s for s in self.steps if s.name == name)


def load_spec(source: PipelineSpec | str | Path | Mapping[str, Any]) -> PipelineSpec:
    """A spec from a YAML file, a mapping or a spec; every error names the field."""
    if isinstance(source, PipelineSpec):
        return source
    where = "pipeline spec"
    if isinstance(source, str | Path):
        where = f"pipeline spec {source}"
        source = read_yaml(source, "pipeline spec")
    if not isinstance(source, Mapping):
        raise ValidationError(f"{where}: expected a mapping with name and steps, got "
                              f"{type(source).__name__}")
    try:
        spec = PipelineSpec.model_validate(dict(source))
    except PydanticError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ValidationError(f"{where}: field {field!r}: {first['msg']}") from None
    names = [s.name for s in spec.steps]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValidationError(f"{where}: step name(s) {twice} used more than once; "
                              "each step needs its own name")
    return spec


def references(value: Any) -> Iterator[tuple[str, str, str | None]]:
    """Every ``(kind, name, output)`` referenced anywhere in ``value``."""
    if isinstance(value, str):
        for match in REFERENCE.finditer(value):
            yield match.group(1), match.group(2), match.group(3)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from references(item)


def resolve(value: Any, params: Mapping[str, Any],
            outputs: Mapping[str, Mapping[str, Any]], where: str) -> Any:
    """``value`` with every reference replaced (see the module docstring)."""
    if isinstance(value, Mapping):
        return {k: resolve(v, params, outputs, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, params, outputs, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    whole = REFERENCE.fullmatch(value.strip())
    if whole:
        return _lookup(whole, params, outputs, where)
    return REFERENCE.sub(lambda m: str(_lookup(m, params, outputs, where)), value)


def _lookup(match: re.Match[str], params: Mapping[str, Any],
            outputs: Mapping[str, Mapping[str, Any]], where: str) -> Any:
    kind, name, output = match.group(1), match.group(2), match.group(3)
    if kind == "params":
        if name not in params:
            raise ValidationError(f"{where}: ${{params.{name}}} is not a parameter; the "
                                  f"parameters are {sorted(params)}")
        value = params[name]
        for part in (output or "").split(".") if output else ():
            value = value[part] if isinstance(value, Mapping) and part in value else None
        return value
    found = outputs.get(name, {})
    if output is None or output not in found:
        raise ValidationError(f"{where}: ${{steps.{name}.{output}}}: step {name!r} has no "
                              f"output {output!r}; it gave {sorted(found)}")
    return found[output]
