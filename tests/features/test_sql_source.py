"""Feature views whose source is a SQL query (SQLite file and a real PostgreSQL): each read
snapshots the result as a dataset version, so training sets name the rows they used."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from gapless import ValidationError, Workspace

T0 = pd.Timestamp("2026-11-01")
QUERY = ("SELECT customer_id, event_time, amount FROM payments "
         "WHERE status = 'settled'")


def view(uri: str) -> dict:
    return {"name": "paid", "entities": ["customer_id"], "timestamp": "event_time",
            "source": {"sql": QUERY, "uri": uri},
            "features": [{"name": "last_paid", "column": "amount"},
                         {"name": "paid_7d", "aggregate": {"function": "sum",
                                                           "column": "amount",
                                                           "window": "7d"}}]}


def fill(url: str, rows: list[tuple[str, pd.Timestamp, float, str]]) -> None:
    engine = sa.create_engine(os.path.expandvars(url))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS payments (customer_id TEXT, "
                             "event_time TIMESTAMP, amount DOUBLE PRECISION, status TEXT)"))
        for customer, when, amount, status in rows:
            conn.execute(sa.text("INSERT INTO payments VALUES (:c, :t, :a, :s)"),
                         {"c": customer, "t": when.to_pydatetime(), "a": amount, "s": status})
    engine.dispose()


ROWS = [("a", T0, 10.0, "settled"), ("a", T0 + pd.Timedelta("2D"), 5.0, "settled"),
        ("a", T0 + pd.Timedelta("3D"), 99.0, "failed"), ("b", T0, 7.0, "settled")]
LOOKUP = pd.DataFrame({"customer_id": ["a", "b"],
                       "event_timestamp": [T0 + pd.Timedelta("4D")] * 2})


def check_view_over(ws: Workspace, url: str) -> None:
    fill(url, ROWS)
    ws.features.apply(view(url))
    frame, ref = ws.features.training_set(LOOKUP, ["paid"], save_as="train")
    assert frame[["last_paid", "paid_7d"]].values.tolist() == [[5.0, 15.0], [7.0, 7.0]]
    version = ws.data.get(ref)
    assert version.parents == ("features.paid@1",)
    assert version.spec["feature_views"]["paid@1"]["source"] == "features.paid@1"
    ws.features.training_set(LOOKUP, ["paid"])  # unchanged rows: no new snapshot
    assert [v.ref for v in ws.data.versions("features.paid")] == ["features.paid@1"]
    fill(url, [("b", T0 + pd.Timedelta("1D"), 3.0, "settled")])
    frame = ws.features.training_set(LOOKUP, ["paid"])
    assert frame["paid_7d"].tolist() == [15.0, 10.0]
    assert len(ws.data.versions("features.paid")) == 2


def test_a_sqlite_query_source(workspace: Workspace, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_DB", str(tmp_path / "payments.db"))
    check_view_over(workspace, "sqlite:///${PAYMENTS_DB}")


def test_a_postgresql_query_source(workspace: Workspace, postgres_url: str) -> None:
    check_view_over(workspace, postgres_url)


def test_a_password_in_the_uri_is_refused_and_variables_must_be_set(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match=r"uri holds a password.*\$\{VARIABLE\}"):
        workspace.features.apply(view("postgresql://me:hunter2@127.0.0.1/db"))
    workspace.features.apply(view("postgresql://me:${DB_PASSWORD}@127.0.0.1/db"))
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    with pytest.raises(ValidationError, match="environment variable DB_PASSWORD is not set"):
        workspace.features.training_set(LOOKUP, ["paid"])
    with pytest.raises(ValidationError, match="needs the uri of its database"):
        workspace.features.apply({**view("x"), "source": {"sql": QUERY}})
