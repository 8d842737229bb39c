"""The order of a pipeline's steps: each step's dependencies, checked for unknown
names and cycles before anything runs. Pure."""

from __future__ import annotations

from gapless.core.errors import ValidationError
from gapless.pipelines.spec import PipelineSpec, references


def dependencies(spec: PipelineSpec) -> dict[str, set[str]]:
    """Step -> the steps it waits for: its ``needs`` and every step it references.

    Raises ValidationError for a reference to a step that does not exist, to a step that
    is itself, or for a cycle (naming the steps on it)."""
    names = {s.name for s in spec.steps}
    found: dict[str, set[str]] = {}
    for step in spec.steps:
        wanted = set(step.needs)
        for kind, name, output in references(step.with_):
            if kind != "steps":
                continue
            if output is None:
                raise ValidationError(f"step {step.name!r}: ${{steps.{name}}} names no "
                                      f"output; write ${{steps.{name}.OUTPUT}}")
            wanted.add(name)
        unknown = sorted(wanted - names)
        if unknown:
            raise ValidationError(f"step {step.name!r} reads step(s) {unknown} that the "
                                  f"pipeline does not have; its steps are {sorted(names)}")
        if step.name in wanted:
            raise ValidationError(f"step {step.name!r} reads its own outputs")
        found[step.name] = wanted
    _check_acyclic(found, [s.name for s in spec.steps])
    return found


def _check_acyclic(edges: dict[str, set[str]], order: list[str]) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for before in sorted(edges[node]):
            if state.get(before) == 1:
                cycle = path[path.index(before):] + [before]
                raise ValidationError("the steps form a cycle: " + " -> ".join(
                    reversed(cycle)) + "; a step can only read steps that come before it")
            if state.get(before) is None:
                visit(before)
        path.pop()
        state[node] = 2

    for node in order:
        if node not in state:
            visit(node)


def downstream(edges: dict[str, set[str]], failed: str) -> set[str]:
    """Every step that waits, directly or not, for ``failed``."""
    out: set[str] = set()
    frontier = {failed}
    while frontier:
        frontier = {n for n, before in edges.items() if before & frontier} - out
        out |= frontier
    return out
