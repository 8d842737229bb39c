"""The recommender model card: one offline HTML page drawn from a training run's evaluation.

The input is the JSON-safe dict :func:`gapless.recsys.training.train_recommender` stores as
``evaluation.json``, so a card can be rendered again later from the stored JSON alone.
No scripts, no external assets; every string from the dict is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto;
       max-width: 1000px; color: #1f2933; line-height: 1.45; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #d9e2ec;
     padding-bottom: 4px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { border: 1px solid #d9e2ec; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.main td { font-weight: 600; background: #f5f9ff; }
.good { color: #2e7d32; } .bad { color: #c62828; }
.note { color: #52606d; font-size: 13px; }
.limitations { white-space: pre-wrap; }
code { background: #f0f4f8; padding: 1px 4px; border-radius: 3px; }
"""


def recommender_card_html(evaluation: Mapping[str, Any]) -> str:
    """The complete, self-contained HTML model card of one recommender training run."""
    ev = evaluation
    best = ev.get("best") or {}
    metric = str(ev.get("metric") or "")
    k = ev.get("k")
    test = ev.get("test_metrics") or {}
    base = (ev.get("baseline") or {}).get("test_metrics") or {}
    split = ev.get("split") or {}
    cold = ev.get("cold_start") or {}
    catalogue = ev.get("catalogue") or {}
    title = f"{best.get('family') or 'recommender'} on {ev.get('dataset') or 'data'}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Model card: {_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Model card: {_e(title)}</h1>",
        "<section id='use'><h2>Intended use</h2>",
        f"<p>Recommends the top {_e(k)} items for a known user, best first, excluding the "
        "items they already interacted with. It ranks items by what users did before; it "
        "is not a judgement of an item's quality and should not be used to decide anything "
        "about a user.</p></section>",
        "<section id='data'><h2>Model and data</h2><table>",
        _pair("Selected family", best.get("family")),
        _pair("Parameters", ", ".join(f"{n}={v}" for n, v in (best.get("params") or {}).items())
              or "defaults"),
        _pair("Interactions dataset", ev.get("dataset"), code=True),
        _pair("Dataset digest", ev.get("dataset_digest"), code=True),
        _pair("Item attributes dataset", ev.get("items_dataset") or "none", code=True),
        _pair("Users / catalogue items", f"{catalogue.get('users')} / {catalogue.get('items')}"),
        _pair("Optimised metric", f"{metric} (higher is better)"),
        _pair("Search", _trials_text(ev.get("trials") or {})),
        "</table></section>",
        "<section id='split'><h2>Split</h2>",
        f"<p>{_e(split.get('description') or 'temporal split')}</p><table>",
        _pair("Events", split.get("events")),
        _pair("Search training events", split.get("search_events")),
        _pair("Validation events (users)",
              f"{split.get('validation_events')} ({split.get('validation_users')})"),
        _pair("Test events (users)", f"{split.get('test_events')} ({split.get('test_users')})"),
        "</table></section>",
        "<section id='metrics'><h2>Test metrics against the popularity baseline</h2>",
        f"<p>Beats the baseline on: <strong>{_e(ev.get('beats_baseline') or 'none')}</strong>. "
        "Scored once on the test events after the search ended.</p>",
        _metric_table(metric, test, base),
        "<h3>Every family's best trial</h3>",
        _family_table(metric, ev.get("table") or []),
        "</section>",
        "<section id='bias'><h2>Coverage and popularity bias</h2>",
        "<p class='note'>Coverage: the share of the catalogue recommended to anyone. Mean "
        "popularity: the average share of training users who had each recommended item; "
        "far above the catalogue's average means the model mostly recommends what everyone "
        "already visits.</p><table><tr><th></th><th>Model</th><th>Baseline</th></tr>",
        *(f"<tr><td>{_e(name)}</td><td class='num'>{_num(test.get(key))}</td>"
          f"<td class='num'>{_num(base.get(key))}</td></tr>"
          for name, key in (("Coverage", "coverage"), ("Mean popularity", "mean_popularity"),
                            ("Catalogue mean popularity", "catalogue_popularity"))),
        "</table></section>",
        "<section id='cold-start'><h2>Cold start</h2><table>",
        _pair("Unknown users", cold.get("unknown_users")),
        _pair("Test users unknown to the model", _num(cold.get("test_users_unknown"))),
        _pair("New items", cold.get("new_items")),
        _pair("Catalogue items never visited", catalogue.get("never_visited_items")),
        "</table></section>",
        "<section id='limitations'><h2>Limitations</h2>",
        f"<p class='limitations'>{_e(ev.get('limitations') or _DEFAULT_LIMITATIONS)}</p>",
        "</section></body></html>",
    ]
    return "\n".join(parts)


_DEFAULT_LIMITATIONS = (
    "Judged offline on each user's most recent events: a proxy for, not a measure of, how "
    "users respond to recommendations. Held-out items a user never saw cannot count as "
    "hits, and past exposure shaped the data, which favours already popular items.")


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _pair(label: str, value: Any, *, code: bool = False) -> str:
    text = _e(value)
    return f"<tr><th>{_e(label)}</th><td>{f'<code>{text}</code>' if code else text}</td></tr>"


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return _e(value)


def _trials_text(trials: Mapping[str, Any]) -> str:
    return ", ".join(f"{count} {state}" for state, count in trials.items()) or "none"


def _metric_table(metric: str, test: Mapping[str, Any], base: Mapping[str, Any]) -> str:
    rows = ["<table><tr><th>Metric</th><th>Model</th><th>Baseline</th><th>Difference</th></tr>"]
    for name, value in test.items():
        if name in ("users", "cold_start_users", "mean_popularity", "catalogue_popularity"):
            continue
        other = base.get(name)
        diff = (value - other) if isinstance(value, int | float) and isinstance(
            other, int | float) else None
        css = "" if diff is None or diff == 0 else ("good" if diff > 0 else "bad")
        rows.append(f"<tr class='{'main' if name == metric else ''}'><td>{_e(name)}</td>"
                    f"<td class='num'>{_num(value)}</td><td class='num'>{_num(other)}</td>"
                    f"<td class='num {css}'>{_num(diff)}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _family_table(metric: str, table: list[Mapping[str, Any]]) -> str:
    rows = [f"<table><tr><th>Model</th><th>Role</th><th>Validation {_e(metric)}</th>"
            f"<th>Test {_e(metric)}</th><th>Beats baseline on</th></tr>"]
    for row in table:
        rows.append(
            f"<tr class='{'main' if row.get('role') == 'selected' else ''}'>"
            f"<td>{_e(row.get('model'))}</td><td>{_e(row.get('role'))}</td>"
            f"<td class='num'>{_num(row.get('validation_score'))}</td>"
            f"<td class='num'>{_num((row.get('test') or {}).get(metric))}</td>"
            f"<td>{_e(row.get('beats_baseline'))}</td></tr>")
    rows.append("</table>")
    return "".join(rows)
