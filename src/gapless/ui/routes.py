"""``mount_dashboard(app, workspace, need)``: the monitoring dashboard under ``/ui``.

Two HTML pages that hold no data (``/ui``, ``/ui/endpoints/{name}``): each asks for an
API key when the server wants one, keeps it in the tab's sessionStorage and polls the
JSON routes under ``/ui/api/`` every few seconds, redrawing its charts with Plotly.js in
place. The JSON routes need the ``read`` scope, like every other read route. Plotly.js
and the page's script and styles are served from the package (``/ui/static/``), so the
dashboard works with no internet access; their URLs carry a hash of the content, so a
browser may keep them for a day and still never runs a stale copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from gapless.core.errors import NotFoundError
from gapless.ui import data

HERE = Path(__file__).parent
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
PLOTLY = "plotly.min.js"
CACHE = "public, max-age=86400"
# Scripts and styles from this server only; Plotly sets inline styles on its elements.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; form-action 'none'; "
       "base-uri 'none'; frame-ancestors 'none'")
DEFAULT_REFRESH_S = 5.0


def mount_dashboard(app: FastAPI, workspace: Any,
                    need: Callable[[str], Callable[[Request], Any]], *, auth: bool = True,
                    refresh_s: float = DEFAULT_REFRESH_S) -> None:
    """Add the dashboard's routes to ``app``: pages, JSON routes (guarded by
    ``need("read")``) and static files. With ``auth`` the pages ask for a key before
    their first request; they poll every ``refresh_s`` seconds (a ``?refresh=`` query
    parameter overrides it per page, 1 to 300; ``?window=`` picks the window shown first)."""
    assets: dict[str, tuple[bytes, str, str]] = {}  # name -> (body, media type, etag)
    templates = _environment()

    def asset(name: str) -> tuple[bytes, str, str]:
        if name not in assets:
            if name == PLOTLY:
                from gapless.reports.render import plotly_js

                body, media = plotly_js().encode("utf-8"), "text/javascript"
            elif name in STATIC:
                body, media = (HERE / "static" / name).read_bytes(), STATIC[name]
            else:
                raise NotFoundError(f"no dashboard file {name!r}; the files are "
                                    f"{', '.join(sorted([*STATIC, PLOTLY]))}")
            assets[name] = (body, media, hashlib.sha256(body).hexdigest()[:16])
        return assets[name]

    def page(template: str, title: str, endpoint: str | None, refresh: float | None,
             window: str | None) -> HTMLResponse:
        urls = {name: f"/ui/static/{name}?v={asset(name)[2]}" for name in [*STATIC, PLOTLY]}
        body = templates.get_template(template).render(
            title=title, endpoint=endpoint, urls=urls, auth=auth, windows=data.WINDOWS,
            default_window=window if window in data.WINDOWS else data.DEFAULT_WINDOW,
            count=data.DEFAULT_COUNT,
            refresh_ms=int(1000 * max(1.0, min(300.0, refresh or refresh_s))))
        return HTMLResponse(body, headers={"Content-Security-Policy": CSP,
                                           "Cache-Control": "no-cache",
                                           "X-Content-Type-Options": "nosniff"})

    @app.get("/ui", include_in_schema=False)
    def overview_page(refresh: float | None = None, window: str | None = None) -> HTMLResponse:
        return page("overview.html", "Endpoints", None, refresh, window)

    @app.get("/ui/endpoints/{name}", include_in_schema=False)
    def endpoint_page(name: str, refresh: float | None = None,
                      window: str | None = None) -> HTMLResponse:
        return page("endpoint.html", f"Endpoint {name}", name, refresh, window)

    @app.get("/ui/static/{name}", include_in_schema=False)
    def static(name: str, request: Request) -> Response:
        body, media, etag = asset(name)
        headers = {"Cache-Control": CACHE, "ETag": f'"{etag}"',
                   "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == f'"{etag}"':
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media, headers=headers)

    @app.get("/ui/api/overview", tags=["dashboard"], dependencies=[Depends(need("read"))])
    def overview_data(window: str = data.DEFAULT_WINDOW,
                      windows: int = Query(data.DEFAULT_COUNT)) -> dict[str, Any]:
        """Every endpoint's deployment and service series (requests, rate, errors,
        latency p50/p95/p99) over the last ``windows`` windows of ``window``."""
        return data.overview(workspace, window=window, count=windows)

    @app.get("/ui/api/endpoints/{name}", tags=["dashboard"],
             dependencies=[Depends(need("read"))])
    def endpoint_data(name: str, window: str = data.DEFAULT_WINDOW,
                      windows: int = Query(data.DEFAULT_COUNT)) -> dict[str, Any]:
        """One endpoint: series per version and variant, drift over time, recent
        deployment history; 404 for an endpoint with no deployment."""
        return data.endpoint_detail(workspace, name, window=window, count=windows)


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(str(HERE / "templates")),
                       autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)
