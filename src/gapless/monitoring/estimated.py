"""Classification performance estimated without labels, from the model's confidence (in
the manner of NannyML's confidence-based performance estimation, CBPE).

If a classifier's probabilities are calibrated, a row predicted as class ``k`` whose
probability of class ``j`` is ``p_j`` adds ``p_j`` to the expected count of (truth ``j``,
prediction ``k``). Summed over a window, these expected counts form an expected confusion
table, from which accuracy, precision, recall and F1 follow exactly as from a realized one.
The estimate tracks a drop in performance caused by a shift in the inputs (rows moving
where the model is less sure) while labels are still missing; it cannot see a change in
the relation between inputs and labels (concept shift), which only labels reveal.

Probabilities are rarely calibrated, so a :class:`Calibration` can be fitted on labelled
rows (a reference period): per class, isotonic regression of "the truth is this class" on
that class's probability. Everything is kept as per-bin counts and sums over
:data:`BINS` equal bins of probability, so memory depends on the number of classes, never
on the number of rows; estimates use each bin's mean probability, so without calibration
they equal the exact sums.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BINS = 100


def _bin(p: float) -> int:
    return min(max(int(p * BINS), 0), BINS - 1)


@dataclass
class ConfidenceTally:
    """Per (predicted class, class) the count and probability sum of rows per bin."""

    rows: int = 0
    counts: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    sums: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def add(self, predicted: str, probabilities: Iterable[tuple[str, float]]) -> None:
        """One row: its predicted class key and (class key, probability) pairs."""
        self.rows += 1
        for label, p in probabilities:
            key = (predicted, label)
            counts = self.counts.get(key)
            if counts is None:
                counts = self.counts[key] = np.zeros(BINS, dtype=np.int64)
                self.sums[key] = np.zeros(BINS)
            b = _bin(p)
            counts[b] += 1
            self.sums[key][b] += p


@dataclass
class CalibrationTally:
    """Labelled rows per class and bin: how many, how many were that class, and the
    probability sum, to fit a :class:`Calibration` on."""

    rows: int = 0
    seen: dict[str, np.ndarray] = field(default_factory=dict)
    hits: dict[str, np.ndarray] = field(default_factory=dict)
    sums: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, truth: str, probabilities: Iterable[tuple[str, float]]) -> None:
        self.rows += 1
        for label, p in probabilities:
            if label not in self.seen:
                self.seen[label] = np.zeros(BINS, dtype=np.int64)
                self.hits[label] = np.zeros(BINS, dtype=np.int64)
                self.sums[label] = np.zeros(BINS)
            b = _bin(p)
            self.seen[label][b] += 1
            self.sums[label][b] += p
            if label == truth:
                self.hits[label][b] += 1

    def fit(self) -> Calibration:
        """Isotonic calibration per class (scikit-learn), weighted by rows per bin."""
        from sklearn.isotonic import IsotonicRegression

        maps = {}
        for label, seen in self.seen.items():
            used = seen > 0
            if used.sum() < 2:
                continue  # nothing to fit: this class keeps its raw probabilities
            x = self.sums[label][used] / seen[used]
            y = self.hits[label][used] / seen[used]
            model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            model.fit(x, y, sample_weight=seen[used])
            maps[label] = model
        return Calibration(maps, self.rows)


@dataclass(frozen=True)
class Calibration:
    """Per class, a monotone map from the model's probability to the observed frequency."""

    maps: Mapping[str, Any]
    rows: int

    def apply(self, label: str, probabilities: np.ndarray) -> np.ndarray:
        found = self.maps.get(label)
        return probabilities if found is None else found.predict(probabilities)


def expected_confusion(tally: ConfidenceTally,
                       calibration: Calibration | None = None) -> dict[tuple[str, str], float]:
    """The expected (truth, prediction) counts of a window's rows. With a calibration,
    each predicted class's expected counts are rescaled to add up to its rows (calibrating
    classes one by one does not keep a row's probabilities summing to one)."""
    confusion: dict[tuple[str, str], float] = {}
    rows_of: dict[str, float] = {}
    for (predicted, label), counts in tally.counts.items():
        used = counts > 0
        sums = tally.sums[(predicted, label)][used]
        if calibration is None:
            value = float(sums.sum())
        else:
            means = sums / counts[used]
            value = float((calibration.apply(label, means) * counts[used]).sum())
        confusion[(label, predicted)] = value
        rows_of[predicted] = max(rows_of.get(predicted, 0.0), float(counts.sum()))
    if calibration is not None:
        for predicted, rows in rows_of.items():
            column = [key for key in confusion if key[1] == predicted]
            total = sum(confusion[key] for key in column)
            for key in column:
                confusion[key] = confusion[key] * rows / total if total else 0.0
    return confusion
