"""The validation report: one offline HTML page and a JSON file from a ValidationResult."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from gapless.data.expectations import load_schema_spec
from gapless.data.validation import ValidationResult, validate
from gapless.reports.validation import validation_html, write_validation_report

SPEC = {
    "columns": {
        "age": {"not_null": True, "min": 18, "max": 120, "type": "integer"},
        "home": {"allowed_values": ["own", "rent"], "max_missing_fraction": 0.5},
        "ghost": {"unique": True},
    },
    "table": {"row_count": {"min": 1},
              "predicates": [{"name": "adult_owner", "sql": "age >= 18 OR home <> 'own'"}]},
}


@pytest.fixture(scope="module")
def result() -> ValidationResult:
    table = pa.table({
        "age": [25, 17, None, 130, 40],
        "home": ["own", "rent", "<script>alert(1)</script>", None, "own"],
        "wide " * 3: ["x" * 500] * 5,
    })
    return validate(table, load_schema_spec(SPEC), dataset="people@3", sample_size=3)


def script_sources(html: str) -> list[str]:
    return re.findall(r"<script[^>]*\bsrc\s*=", html, flags=re.IGNORECASE)


def test_page_lists_every_expectation_with_its_verdict(result: ValidationResult) -> None:
    html = validation_html(result)
    assert html.startswith("<!DOCTYPE html>") and "people@3" in html
    for outcome in result.expectations:
        assert f">{outcome.expectation}<" in html, outcome.id
    rows = re.findall(r'<tr id="expectation-\d+-row" class="expectation (\w+)-row">', html)
    assert rows == [{"pass": "pass", "fail": "fail"}.get(e.status, "warn")
                    for e in result.expectations]
    assert rows.count("fail") == 5 and rows.count("warn") == 1  # ghost.unique not checked
    assert 'class="verdict fail"' in html and "FAILED" in html
    assert 'id="chart"' in html and "Plotly.newPlot" in html  # the bar chart is there
    assert not script_sources(html)  # opens offline: plotly.js is embedded, not linked
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # the sample of age.min names row 1 and puts the checked column first
    section = html.split('id="expectation-2"')[1].split("</section>")[0]
    assert re.search(r'<td class="num">1</td><td class="checked">17</td>', section)


def test_json_and_html_files(result: ValidationResult, tmp_path: Path) -> None:
    html_path, json_path = write_validation_report(result, tmp_path / "r" / "report.html",
                                                   tmp_path / "r" / "report.json")
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(result.to_dict()))
    assert data["passed"] is False and data["dataset"] == "people@3"
    assert [e["id"] for e in data["expectations"]][:3] == ["age.exists", "age.not_null",
                                                           "age.min"]
    age_min = data["expectations"][2]
    assert (age_min["failing_rows"], age_min["sample"][0]["row"]) == (1, 1)
    long_text = age_min["sample"][0]["values"]["wide " * 3]
    assert len(long_text) < 250 and long_text.endswith("...")
    def same(html: str) -> str:  # plotly draws each figure under a fresh random id
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "id", html)

    assert same(html_path.read_text(encoding="utf-8")) == same(validation_html(data))


def test_all_passing_page_has_no_chart() -> None:
    spec = load_schema_spec({"columns": {"a": {"not_null": True}}})
    html = validation_html(validate(pa.table({"a": [1, 2]}), spec))
    assert 'class="verdict pass"' in html and "PASSED" in html
    assert 'id="chart"' not in html and 'class="fail"' not in html
