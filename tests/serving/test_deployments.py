"""Deployment specs, sticky routing, and the stored deployments with their history."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gapless.core.errors import ConflictError, NotFoundError, ValidationError
from gapless.serving.deployments import DeploymentStore, load_spec, route, single
from gapless.stores.sql import MetadataStore

AB = {"strategy": "ab", "variants": [
    {"name": "a", "model": "churn@1", "weight": 70},
    {"name": "b", "model": "churn@2", "weight": 30}]}


def test_specs_are_checked_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="weights of the primary variants must add up"):
        load_spec({**AB, "variants": [{**v, "weight": 40} for v in AB["variants"]]})
    with pytest.raises(ValidationError, match="needs a variant with role shadow"):
        load_spec({"strategy": "shadow", "variants": [{"name": "a", "model": "churn@1"}]})
    with pytest.raises(ValidationError, match=r"variants\.0\.colour: Extra inputs"):
        load_spec({"variants": [{"name": "a", "model": "churn@1", "colour": "red"}]})
    with pytest.raises(ValidationError, match="model"):
        load_spec({"variants": [{"name": "a", "model": "churn@not valid"}]})


def test_ab_routing_is_sticky_and_follows_the_weights() -> None:
    spec = load_spec(AB)
    users = [f"user-{i}" for i in range(4000)]
    first = [route(spec, key=u).answer.name for u in users]
    assert first == [route(spec, key=u).answer.name for u in users]  # same key, same variant
    share = Counter(first)["a"] / len(users)
    assert 0.67 < share < 0.73
    rng = random.Random(0)
    unkeyed = Counter(route(spec, rng=rng).answer.name for _ in range(4000))
    assert 0.67 < unkeyed["a"] / 4000 < 0.73


def test_shadows_get_a_copy_and_never_answer() -> None:
    spec = load_spec({"strategy": "shadow", "variants": [
        {"name": "live", "model": "churn@1", "weight": 100},
        {"name": "next", "model": "churn@2", "role": "shadow"}]})
    chosen = route(spec, key="u1")
    assert chosen.answer.name == "live" and [v.name for v in chosen.shadows] == ["next"]


def test_store_revisions_history_and_stack_rollback(metadata_uri: str) -> None:
    store = DeploymentStore(MetadataStore(metadata_uri))
    with pytest.raises(NotFoundError, match="gapless deploy churn"):
        store.get("churn")
    blue = store.put("churn", single("churn@1"), reason="first")
    green = store.put("churn", single("churn@2"))
    third = store.put("churn", AB)
    assert (blue.revision, green.revision, third.revision) == (1, 2, 3)
    assert store.revisions() == {"churn": 3}
    with pytest.raises(ConflictError, match="revision 3, not 2"):
        store.put("churn", single("churn@9"), expected_revision=2)
    back = store.rollback("churn", reason="canary tripped")
    assert back.revision == 4 and back.spec == green.spec
    assert store.rollback("churn").spec == blue.spec  # a stack: two rollbacks, two steps back
    with pytest.raises(ValidationError, match="no earlier deployment"):
        store.rollback("churn")
    reasons = [h["reason"] for h in store.history("churn")]
    assert reasons[0] == "first" and reasons[3].startswith("rollback to revision 2: canary")
