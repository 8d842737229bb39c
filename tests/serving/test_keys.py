"""API keys on both metadata backends: tokens verify, only a salted hash is stored, bad and
revoked tokens are refused, revocation reaches other processes within the cache TTL, and
the scope rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gapless import Workspace
from gapless.core.errors import NotFoundError, ValidationError
from gapless.serving.keys import SCOPES, ApiKey, ApiKeys, allows, bearer_token
from gapless.stores.tables import api_keys


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ws(tmp_path: Path, metadata_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    monkeypatch.setenv("GAPLESS_USER", "alice")
    with Workspace.init(tmp_path / "ws", metadata_uri=metadata_uri) as workspace:
        yield workspace


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(ws: Workspace, clock: Clock) -> ApiKeys:
    return ApiKeys(ws.metadata, ttl=5.0, clock=clock)


def test_created_token_verifies_and_record_has_no_secret(keys: ApiKeys) -> None:
    key, token = keys.create("ci deployer", ["deploy", "read", "deploy"])
    prefix, key_id, secret = token.split("_", 2)
    assert (prefix, key_id) == ("gl", key.key_id) and len(key_id) == 12 and len(secret) >= 43
    assert key.name == "ci deployer" and key.scopes == ("read", "deploy")
    assert key.created_by == "alice" and not key.revoked and key.last_used_at is None
    assert secret not in repr(key) and not hasattr(key, "secret")
    found = keys.verify(token)
    assert found is not None and found.key_id == key.key_id and found.scopes == key.scopes
    assert keys.list() == [keys.get(key.key_id)]


def test_stored_row_holds_neither_token_nor_secret(ws: Workspace, keys: ApiKeys) -> None:
    key, token = keys.create("scorer", ["predict"])
    secret = token.split("_", 2)[2]
    with ws.metadata.read() as conn:
        rows = conn.execute(sa.select(api_keys)).mappings().all()
    assert len(rows) == 1
    for column, value in rows[0].items():
        assert secret not in str(value) and token not in str(value), column
    assert rows[0]["key_id"] == key.key_id and rows[0]["salt"] and rows[0]["key_hash"]
    # A second key gets its own salt, so equal hashes cannot reveal equal secrets.
    keys.create("scorer-2", ["predict"])
    with ws.metadata.read() as conn:
        salts = conn.execute(sa.select(api_keys.c.salt)).scalars().all()
    assert len(set(salts)) == 2


BAD_TOKENS = {
    "wrong secret": lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
    "unknown id": lambda t: "gl_zzzzzzzzzzzz_" + t.split("_", 2)[2],
    "wrong prefix": lambda t: "gx" + t[2:],
    "no secret": lambda t: t[:16],
    "too long": lambda t: t + "x" * 200,
    "parts not separated": lambda t: t.replace("_", "-", 1),
    "empty": lambda t: "",
    "empty parts": lambda t: "gl__",
    "header, not token": lambda t: "Bearer " + t,
    "trailing newline": lambda t: t + "\n",
    "id upper-cased": lambda t: t[:3] + t[3:15].upper() + t[15:],
    "not text": lambda t: None,
    "a number": lambda t: 42,
}


def test_bad_tokens_are_refused_without_raising(keys: ApiKeys) -> None:
    _, token = keys.create("scorer", ["predict"])
    for case, mangle in BAD_TOKENS.items():
        assert keys.verify(mangle(token)) is None, case
    assert keys.verify(token) is not None


def test_revoked_key_is_refused_here_at_once_and_elsewhere_after_the_ttl(
    ws: Workspace, keys: ApiKeys, clock: Clock
) -> None:
    key, token = keys.create("scorer", ["predict"])
    other_worker = ApiKeys(ws.metadata, ttl=5.0, clock=clock)
    assert keys.verify(token) is not None and other_worker.verify(token) is not None

    revoked = keys.revoke(key.key_id)
    assert revoked.revoked and revoked.key_id == key.key_id
    assert keys.verify(token) is None  # the revoking process forgets at once
    clock.now += 4.0
    assert other_worker.verify(token) is not None  # still within its TTL
    clock.now += 1.5
    assert other_worker.verify(token) is None  # TTL passed: the store is asked again
    assert ApiKeys(ws.metadata).verify(token) is None

    assert keys.revoke(key.key_id).revoked  # revoking again is a no-op
    assert [k.revoked for k in keys.list()] == [True]


def test_cache_spares_the_store_within_the_ttl(ws: Workspace, keys: ApiKeys, clock: Clock,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _, token = keys.create("scorer", ["predict"])
    assert keys.verify(token) is not None
    assert keys.verify("gl_zzzzzzzzzzzz_" + "a" * 43) is None

    def no_reads() -> None:
        raise AssertionError("verify read the store within the TTL")

    monkeypatch.setattr(ws.metadata, "read", no_reads)
    clock.now += 4.9
    for _ in range(100):
        assert keys.verify(token) is not None
        assert keys.verify("gl_zzzzzzzzzzzz_" + "a" * 43) is None


def test_last_used_is_written_at_most_once_per_interval(ws: Workspace, keys: ApiKeys,
                                                        clock: Clock,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    key, token = keys.create("scorer", ["predict"])
    writes = []
    real_write = ws.metadata.write
    monkeypatch.setattr(ws.metadata, "write", lambda work: writes.append(1) or real_write(work))
    for _ in range(50):
        keys.verify(token)
        clock.now += 1.0
    assert len(writes) == 1
    assert keys.get(key.key_id).last_used_at is not None
    clock.now += 60.0
    keys.verify(token)
    assert len(writes) == 2


def test_unknown_key_id_cannot_be_revoked(keys: ApiKeys) -> None:
    with pytest.raises(NotFoundError, match="nokey"):
        keys.revoke("nokey")
    with pytest.raises(NotFoundError):
        keys.get("nokey")


BAD_INPUT = [
    ("scorer", ["write"], "'write' is not known; use one of: read, predict, deploy, admin"),
    ("scorer", [], "at least one scope"),
    ("", ["read"], "name '' is not valid"),
    ("   ", ["read"], "is not valid"),
    ("x" * 129, ["read"], "1 to 128"),
    ("bad\nname", ["read"], "printable"),
]


def test_bad_names_and_scopes_are_refused(keys: ApiKeys) -> None:
    for name, scopes, message in BAD_INPUT:
        with pytest.raises(ValidationError, match=message):
            keys.create(name, scopes)
    assert keys.list() == []


def test_workspace_hands_out_keys(workspace: Workspace) -> None:
    key, token = workspace.keys.create("scorer", "predict")
    assert key.scopes == ("predict",)
    assert workspace.keys.verify(token) == key


@pytest.mark.parametrize("held, granted", [
    (("admin",), {"admin", "deploy", "read", "predict"}),
    (("deploy",), {"deploy", "read"}),
    (("read",), {"read"}),
    (("predict",), {"predict"}),
    (("predict", "read"), {"predict", "read"}),
])
def test_scope_rule(held: tuple[str, ...], granted: set[str]) -> None:
    key = ApiKey("k" * 12, "k", held, False, "alice", 0.0, None)
    assert {scope for scope in SCOPES if allows(key, scope)} == granted
    gone = ApiKey("k" * 12, "k", held, True, "alice", 0.0, None)
    assert not any(allows(gone, scope) for scope in SCOPES)
    with pytest.raises(ValidationError, match="use one of"):
        allows(key, "write")


def test_bearer_token() -> None:
    assert bearer_token("Bearer gl_abc_def") == "gl_abc_def"
    assert bearer_token("bearer   gl_abc_def ") == "gl_abc_def"
    assert bearer_token("Basic dXNlcjpwYXNz") is None
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None and bearer_token("") is None
