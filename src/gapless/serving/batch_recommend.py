"""Batch top-k: a registered recommender's answer for every user, as a dataset version.

The output is long (one row per user and rank: ``user_id``, ``rank`` from 1, ``item_id``,
``score``, ``strategy``), which joins and filters easily and stores compactly in Parquet;
it is recorded as a derived dataset whose parent is the model's training data and whose
spec names the model, so a campaign built on it can be traced back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gapless.core.errors import ValidationError

BLOCK = 10_000  # users per recommend_many call: bounds the rows held as Python objects


def recommend_batch(workspace: Any, model: str, *, k: int = 10,
                    users: Sequence[Any] | None = None,
                    record_as: str | None = None) -> tuple[Any, str | None]:
    """The top ``k`` of ``model`` (NAME@VERSION or NAME@ALIAS) for ``users`` (default:
    every user it was trained on) as a frame, and, with ``record_as``, the dataset
    version it was stored as (else None)."""
    import pandas as pd

    version = workspace.models.get(model)
    loaded = workspace.models.load(version.ref)
    if not hasattr(loaded, "recommend_many"):
        raise ValidationError(f"{version.ref} is not a recommender; batch top-k needs one "
                              "(use `gapless predict` for other models)")
    who = [str(u) for u in (loaded.users_ if users is None else users)]
    if not who:
        raise ValidationError("batch top-k: no users to recommend for")
    parts = []
    for start in range(0, len(who), BLOCK):
        answers = loaded.recommend_many(who[start:start + BLOCK], k)
        parts.append(pd.DataFrame({
            "user_id": [a.user for a in answers for _ in a.items],
            "rank": [rank for a in answers for rank in range(1, len(a.items) + 1)],
            "item_id": [item for a in answers for item in a.items],
            "score": [score for a in answers for score in a.scores],
            "strategy": [a.strategy for a in answers for _ in a.items]}))
    frame = pd.concat(parts, ignore_index=True)
    if record_as is None:
        return frame, None
    trained_on = version.lineage.get("dataset") if version.lineage else None
    added = workspace.data.add(
        record_as, frame, kind="derived", parents=[str(trained_on)] if trained_on else [],
        spec={"model": version.ref, "k": k, "users": len(who)},
        description=f"top {k} of {version.ref} for {len(who):,} users")
    return frame, added.version.ref
