"""Model files at rest: AES-256-GCM sealing, key ids, tamper detection, and a workspace
that keeps only ciphertext in its artifact store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gapless import Workspace
from gapless.core.errors import ConfigError, IntegrityError, SecurityError
from gapless.registry.encryption import MAGIC, ModelCipher, generate_key, is_encrypted, key_id_of
from gapless.registry.packaging import pack, unpack

SKOPS_HEADER = b"PK\x03\x04"  # a skops file is a zip archive


# -- the cipher -----------------------------------------------------------------------------
def test_sealed_bytes_open_with_the_same_key() -> None:
    cipher = ModelCipher.from_key(generate_key())
    plain = b"model bytes " * 100
    sealed = cipher.encrypt(plain)
    assert sealed.startswith(b"GLENC1") and is_encrypted(sealed)
    assert plain not in sealed
    assert key_id_of(sealed) == cipher.key_id and len(cipher.key_id) == 16
    assert cipher.decrypt(sealed) == plain
    assert cipher.encrypt(plain) != sealed  # a fresh nonce every time


def test_a_key_round_trips_through_its_text_form() -> None:
    key = generate_key()
    assert len(key) == 44
    sealed = ModelCipher.from_key(key).encrypt(b"x")
    assert ModelCipher.from_key(f"  {key}\n").decrypt(sealed) == b"x"


def test_the_wrong_key_names_both_key_ids() -> None:
    right, wrong = ModelCipher.from_key(generate_key()), ModelCipher.from_key(generate_key())
    sealed = right.encrypt(b"secret model")
    with pytest.raises(SecurityError) as refused:
        wrong.decrypt(sealed, what="model churn@1")
    message = str(refused.value)
    assert right.key_id in message and wrong.key_id in message and "churn@1" in message


@pytest.mark.parametrize("position", [0.1, 0.5, -1])
def test_a_flipped_byte_fails_authentication(position: float) -> None:
    cipher = ModelCipher.from_key(generate_key())
    sealed = bytearray(cipher.encrypt(b"model bytes " * 10))
    index = int(len(sealed) * position) if position > 0 else len(sealed) - 1
    index = max(index, len(MAGIC) + 8)  # past the magic and key id, into nonce/ciphertext
    sealed[index] ^= 0x01
    with pytest.raises(IntegrityError, match="altered or truncated"):
        cipher.decrypt(bytes(sealed))


def test_truncated_or_plain_bytes_are_not_opened() -> None:
    cipher = ModelCipher.from_key(generate_key())
    sealed = cipher.encrypt(b"model bytes " * 10)
    with pytest.raises(IntegrityError):
        cipher.decrypt(sealed[:-5])
    with pytest.raises(IntegrityError, match="not an encrypted gapless file"):
        cipher.decrypt(sealed[:20])
    with pytest.raises(IntegrityError, match="not an encrypted gapless file"):
        cipher.decrypt(b"PK\x03\x04 plain zip")


@pytest.mark.parametrize("text", ["", "short", "not base64 at all!!", "é" * 44,
                                  "QUFB" * 8])  # QUFB... decodes to 24 bytes, not 32
def test_a_bad_key_text_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="new-key"):
        ModelCipher.from_key(text)


def test_an_encrypted_payload_without_a_key_names_the_key_it_needs() -> None:
    cipher = ModelCipher.from_key(generate_key())
    with pytest.raises(SecurityError, match=cipher.key_id):
        unpack(cipher.encrypt(b"anything"), cipher=None, what="model churn@1")


# -- a workspace that encrypts ----------------------------------------------------------------
def _model_and_rows() -> tuple[object, pd.DataFrame]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = (X.a + rng.normal(scale=0.5, size=80) > 0).astype(int)
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y), X


def _run_with(ws: Workspace, data: bytes, tmp_path: Path) -> str:
    folder = tmp_path / f"m{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    (folder / "model.skops").write_bytes(data)
    with ws.runs.start_run("exp", "hand-made", parent=None) as run:
        run.log_artifact(folder / "model.skops", artifact_path="model")
    return run.id


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENCRYPTION_KEY", "METADATA_URI", "ARTIFACT_URI", "WORKSPACE", "ADMINS"):
        monkeypatch.delenv(f"GAPLESS_{name}", raising=False)


@pytest.fixture
def sealed(tmp_path: Path, clean_env: None) -> Iterator[tuple[Path, str, pd.DataFrame]]:
    """A workspace opened with a key, holding ``m@1`` (packed sealed, as training does)
    and ``m@2`` (logged plain, sealed on registration)."""
    key = generate_key()
    model, X = _model_and_rows()
    root = tmp_path / "ws"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with Workspace.init(root, encryption_key=key) as ws:
        assert ws.models.cipher is not None
        ws.models.register(_run_with(ws, pack(model, ws.models.cipher).data, scratch), "m")
        ws.models.register(_run_with(ws, pack(model, None).data, scratch), "m")
    yield root, key, X


def test_registered_versions_are_stored_as_ciphertext(
    sealed: tuple[Path, str, pd.DataFrame]
) -> None:
    root, key, _ = sealed
    with Workspace(root, encryption_key=key) as ws:
        for ref in ("m@1", "m@2"):
            version = ws.models.get(ref)
            stored = ws.artifacts.get_bytes(version.digest)
            assert version.encrypted
            assert stored.startswith(b"GLENC1") and SKOPS_HEADER not in stored
            assert key_id_of(stored) == ws.models.cipher.key_id


def test_loading_needs_the_right_key(sealed: tuple[Path, str, pd.DataFrame]) -> None:
    root, key, X = sealed
    with Workspace(root, encryption_key=key) as ws:
        expected = ws.models.load("m@1").predict_proba(X)
        key_id = ws.models.cipher.key_id
        np.testing.assert_allclose(ws.models.load("m@2").predict_proba(X), expected)
    with Workspace(root) as ws, pytest.raises(SecurityError, match=key_id) as no_key:
        ws.models.load("m@1")
    assert "GAPLESS_ENCRYPTION_KEY" in str(no_key.value)
    other = generate_key()
    with Workspace(root, encryption_key=other) as ws, pytest.raises(SecurityError) as wrong:
        ws.models.load("m@1")
    assert key_id in str(wrong.value) and ws.models.cipher.key_id in str(wrong.value)
    with Workspace(root, encryption_key=key) as ws:
        np.testing.assert_allclose(ws.models.load("m@1").predict_proba(X), expected)


def test_the_key_comes_from_the_environment(sealed: tuple[Path, str, pd.DataFrame],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root, key, X = sealed
    monkeypatch.setenv("GAPLESS_ENCRYPTION_KEY", key)
    with Workspace(root) as ws:
        assert ws.models.load("m@2").predict(X).shape == (len(X),)
    monkeypatch.setenv("GAPLESS_ENCRYPTION_KEY", "too-short")
    with pytest.raises(ConfigError, match="44 characters"):
        Workspace(root)


def test_a_tampered_ciphertext_is_refused_on_load(sealed: tuple[Path, str, pd.DataFrame],
                                                  tmp_path: Path) -> None:
    root, key, _ = sealed
    with Workspace(root, encryption_key=key) as ws:
        version = ws.models.get("m@1")
        stored = bytearray(ws.artifacts.get_bytes(version.digest))
        stored[-3] ^= 0x01
        cipher = ws.models.cipher
        with pytest.raises(IntegrityError, match="failed authentication"):
            unpack(bytes(stored), cipher=cipher, what="model m@1",
                   model_digest=version.model_digest)
        from gapless.stores.artifacts import blob_key

        bad = tmp_path / "bad.bin"
        bad.write_bytes(bytes(stored))
        ws.artifacts.bytes.put_file(bad, blob_key(version.digest))
        with pytest.raises(IntegrityError):
            ws.models.load("m@1")


def test_a_sealed_run_cannot_be_registered_without_its_key(
    sealed: tuple[Path, str, pd.DataFrame], tmp_path: Path
) -> None:
    root, key, _ = sealed
    with Workspace(root, encryption_key=key) as ws:
        run_id = ws.models.get("m@1").run_id
    with Workspace(root) as ws, pytest.raises(SecurityError, match="GAPLESS_ENCRYPTION_KEY"):
        ws.models.register(run_id, "m")
    with Workspace(root, encryption_key=key) as ws:
        assert [v.version for v in ws.models.versions("m")] == [1, 2]
