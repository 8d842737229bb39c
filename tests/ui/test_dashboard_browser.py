"""The dashboard as a person sees it: the real app under uvicorn on 127.0.0.1, Debian's
Chromium driven by Playwright. Log in with a key, every chart drawn (SVG traces, and
coloured pixels in a screenshot), no console error, no request leaves 127.0.0.1, and
new predictions appear without a reload."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from conftest import free_port, log_predictions, service_missing
from gapless import Workspace
from gapless.server.app import create_app
from gapless.serving.feedback import record_feedback

from .conftest import traffic

CHARTS = ".js-plotly-plot"


@pytest.fixture
def server(ws: Workspace) -> Iterator[str]:
    """The real app (auth on) under uvicorn in a thread, stopped through should_exit."""
    import uvicorn

    app = create_app(ws, auth=True, shadow_process=False, canary_interval=0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def browser(chromium: str) -> Iterator:  # type: ignore[type-arg]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("Playwright", "the playwright package is not installed "
                                      "(pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"])
        try:
            yield launched
        finally:
            launched.close()


def png_pixels(data: bytes) -> np.ndarray:
    """An 8-bit RGB(A) non-interlaced PNG (what Chromium writes) as a height x width x
    channels array; enough of the format to check a screenshot without Pillow."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 4 if color == 6 else 3
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 2:
            row = (line + previous) % 256
        elif kind == 1:
            row = (np.cumsum(line.reshape(width, channels), axis=0) % 256).reshape(-1)
        else:  # 3 average, 4 Paeth: each byte needs the one decoded left of it
            row = line.copy()
            for x in range(stride):
                left = row[x - channels] if x >= channels else 0
                up = previous[x]
                if kind == 3:
                    row[x] = (line[x] + (left + up) // 2) % 256
                else:
                    corner = previous[x - channels] if x >= channels else 0
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                    row[x] = (line[x] + guess) % 256
        out[y], previous = row, row
    return out.reshape(height, width, channels)


def coloured_pixels(png: bytes) -> int:
    """Pixels of a saturated colour: the drawn traces, not text, axes or gridlines."""
    rgb = png_pixels(png)[..., :3].astype(np.int32)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 60).sum())


def test_dashboard_draws_every_chart_and_refreshes_live(ws: Workspace, server: str, browser,  # type: ignore[no-untyped-def]
                                                        read_key: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))

    page.goto(f"{server}/ui?refresh=1")
    page.wait_for_selector("#login", state="visible")  # auth on: the page asks for a key
    page.fill("#api-key", read_key)
    page.click("#login button[type=submit]")
    card = page.locator('section.endpoint[data-endpoint="churn"]')
    card.locator(f"{CHARTS} .scatterlayer .trace").first.wait_for()
    assert page.text_content("#total-requests") == "80"
    assert card.locator("table.variants tbody tr").count() == 2
    assert card.locator(CHARTS).count() == 3
    lines = card.locator(f"{CHARTS} .scatterlayer .trace path.js-line")
    assert lines.count() >= 5  # rate, error rate, and latency p50/p95/p99
    paths = [lines.nth(i).get_attribute("d") for i in range(lines.count())]
    assert all(d and len(d) > 2 for d in paths), paths
    page.screenshot(path=tmp_path / "overview.png", full_page=True)
    shot = card.locator(CHARTS).first.screenshot()
    assert coloured_pixels(shot) > 50, "the request-rate chart is blank"
    assert page.text_content("#last-refresh") != "never"

    # New predictions show up on the next poll, without a reload.
    page.evaluate("window.__same_document = true")
    # (They carry probabilities and get labels, for the performance panel below.)
    ids = log_predictions(ws.metadata, [
        {**row, "probabilities": ((0, 1), [0.3, 0.7])} for row in traffic(10)],
        endpoint="churn")
    record_feedback(ws.metadata, "churn", [{"prediction_id": i, "label": 1} for i in ids])
    expect(page.locator("#total-requests")).to_have_text("90", timeout=10_000)
    assert page.evaluate("window.__same_document") is True

    # One endpoint: the same series per version and variant, and the drift panel.
    card.locator("h2 a").click()
    page.wait_for_url("**/ui/endpoints/churn")
    page.locator("#chart-latency .scatterlayer .trace").first.wait_for()
    assert page.text_content("#total-requests") == "90"
    assert page.locator("#variants tbody tr").count() == 2
    assert page.locator("#history tbody tr").count() == 2
    names = page.locator("#chart-rate .legend .traces text").all_text_contents()
    assert names == ["v1 primary", "v2 canary"]
    assert coloured_pixels(page.locator("#chart-latency").screenshot()) > 50
    page.locator("#chart-drift-share .scatterlayer .trace").first.wait_for()
    assert coloured_pixels(page.locator("#chart-drift-features").screenshot()) > 50
    assert page.locator("#drift-latest tbody tr").count() == 2  # age and region
    assert page.is_hidden("#drift-message")
    page.locator("#chart-performance .scatterlayer .trace").first.wait_for()
    assert page.is_hidden("#performance-message")
    legend = page.locator("#chart-performance .legend .traces text").all_text_contents()
    assert "v1 primary realized" in legend and "v1 primary estimated" in legend
    assert coloured_pixels(page.locator("#chart-performance").screenshot()) > 50
    page.screenshot(path=tmp_path / "endpoint.png", full_page=True)

    assert errors == []
    outside = [u for u in requests if urlsplit(u).hostname not in ("127.0.0.1", None)
               and not u.startswith("data:")]
    assert outside == []
    page.close()
