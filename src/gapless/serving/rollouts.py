"""Rollouts: the deployment spec each strategy makes from what an endpoint serves now.

``gapless deploy ENDPOINT --model M --strategy S`` (and ``Workspace.deploy``) names only
the new model; the strategy decides how it meets the current one. A pure function over
specs, so every strategy's shape is tested without a store:

* ``single`` / ``blue-green``: M alone, switched atomically (one revision); the previous
  deployment stays in the history, so ``--rollback`` restores it in one call.
* ``shadow``: the current primary answers; M gets a copy of every request, logged only.
* ``champion-challenger``: the same shape, M named ``challenger``; judged on feedback and
  promoted through the registry's gates (:mod:`gapless.serving.challenger`).
* ``canary``: the current primary and M (``canary``) split traffic, M starting at the
  ramp's first step and moved along it by the canary controller under the guardrails.
* ``ab``: the current primary (``a``) and M (``b``) split traffic by ``weight``, sticky by
  the request key.
"""

from __future__ import annotations

from gapless.core.errors import ValidationError
from gapless.serving.deployments import (
    STRATEGIES,
    DeploymentSpec,
    Guardrails,
    Ramp,
    Variant,
    endpoint_settings,
)


def rollout(current: DeploymentSpec | None, model: str, strategy: str = "single", *,
            weight: float | None = None, ramp: Ramp | None = None,
            guardrails: Guardrails | None = None, runtime: str = "python") -> DeploymentSpec:
    """The spec that rolls ``model`` out on an endpoint now serving ``current`` (None: a
    new endpoint, which only ``single``/``blue-green`` can start)."""
    if strategy not in STRATEGIES:
        raise ValidationError(f"strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    new = Variant(name="primary", model=model, weight=100.0, runtime=runtime)
    if strategy in ("single", "blue-green"):
        return DeploymentSpec(strategy=strategy, variants=[new], **endpoint_settings(current))
    if current is None:
        raise ValidationError(f"strategy {strategy} rolls a model out beside the one already "
                              "deployed, and this endpoint has none; deploy one first with "
                              "--strategy single")
    incumbent = _incumbent(current)
    if strategy in ("shadow", "champion-challenger"):
        name = "challenger" if strategy == "champion-challenger" else "shadow"
        return DeploymentSpec(strategy=strategy, **endpoint_settings(current), variants=[
            incumbent, new.model_copy(update={"name": name, "role": "shadow", "weight": 0.0})])
    if strategy == "canary":
        ramp = ramp or current.ramp or Ramp()
        share = ramp.steps[0] if weight is None else weight
        return DeploymentSpec(
            strategy="canary", ramp=ramp, canary="canary", **endpoint_settings(current),
            guardrails=guardrails or current.guardrails,
            variants=[incumbent.model_copy(update={"weight": 100.0 - share}),
                      new.model_copy(update={"name": "canary", "weight": share})])
    share = 50.0 if weight is None else weight
    return DeploymentSpec(strategy="ab", **endpoint_settings(current), variants=[
        incumbent.model_copy(update={"name": "a", "weight": 100.0 - share}),
        new.model_copy(update={"name": "b", "weight": share})])


def _incumbent(current: DeploymentSpec) -> Variant:
    """The variant now answering: the only primary, or the heaviest of several."""
    primaries = [v for v in current.variants if v.role == "primary"]
    best = max(primaries, key=lambda v: v.weight)
    return best.model_copy(update={"name": "primary", "weight": 100.0})
