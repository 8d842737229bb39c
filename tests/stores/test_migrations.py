from __future__ import annotations

from pathlib import Path

from gapless.stores.migrations import HEAD_REVISION, current_revision, script_head, upgrade
from gapless.stores.sql import MetadataStore


def test_head_constant_matches_alembic_scripts() -> None:
    assert script_head() == HEAD_REVISION


def test_upgrade_is_explicit_and_idempotent(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path}/m.db", migrate=False)
    with store.read() as conn:
        assert current_revision(conn) is None
    assert upgrade(store) is None
    assert upgrade(store) == HEAD_REVISION
    with store.read() as conn:
        assert current_revision(conn) == HEAD_REVISION
    store.dispose()


def test_0005_adds_alert_events_on_top_of_0004(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gapless.stores.tables import metadata

    store = MetadataStore(f"sqlite:///{tmp_path}/m.db", migrate=False)
    upgrade(store, "0004")
    with store.read() as conn:
        assert current_revision(conn) == "0004"
        assert not sa.inspect(conn).has_table("alert_events")
    assert upgrade(store) == "0004"
    with store.read() as conn:
        columns = {c["name"]: c["nullable"] for c in sa.inspect(conn).get_columns("alert_events")}
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert columns == {"id": False, "rule": False, "endpoint": False, "metric": False,
                       "value": False, "condition": False, "window_start": False,
                       "window_end": False, "fired_at": False, "actions_json": False,
                       "pipeline": True, "consumed_at": True}
    store.dispose()


def test_0006_adds_prediction_probabilities_and_keeps_logged_rows(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gapless.stores.tables import metadata

    store = MetadataStore(f"sqlite:///{tmp_path}/m.db", migrate=False)
    upgrade(store, "0005")
    store.write(lambda conn: conn.execute(sa.text(
            "INSERT INTO predictions (prediction_id, variant, endpoint, model, version, role, "
            "inputs_json, outputs_json, latency_ms, status, created_at) VALUES "
            "('p1', 'v1', 'churn', 'churn', 1, 'primary', '{}', '1', 1.5, 200, 10.0)")))
    assert upgrade(store) == "0005"
    with store.read() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        rows = conn.execute(sa.text("SELECT prediction_id, outputs_json, probabilities_json "
                                    "FROM predictions")).all()
    assert [tuple(r) for r in rows] == [("p1", "1", None)]
    store.dispose()
