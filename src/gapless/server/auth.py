"""Bearer-token auth: each route declares the scope it needs; no key is 401, a key without
that scope is 403. Off only when the server binds to loopback and was told ``--no-auth``.

The check is a coroutine, so FastAPI runs it on the event loop rather than handing each
request to its thread pool (a thread hop costs more than the check): verdicts are
cached per key for a few seconds (``ApiKeys.ttl``), so the store is read at most that
often per key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request

from gapless.serving.keys import ApiKeys, allows, bearer_token


def scope_guard(keys: ApiKeys | None) -> Callable[[str], Callable[[Request], Any]]:
    """``need(scope)`` builds the dependency a route declares; ``keys=None`` disables auth."""

    def need(scope: str) -> Callable[[Request], Any]:
        async def check(request: Request) -> Any:
            if keys is None:
                return None
            key = keys.verify(bearer_token(request.headers.get("authorization")))
            if key is None:
                raise HTTPException(401, "missing or invalid API key; send "
                                         "`Authorization: Bearer <key>`",
                                    headers={"WWW-Authenticate": "Bearer"})
            if not allows(key, scope):
                raise HTTPException(403, f"API key {key.key_id} lacks scope {scope!r} "
                                         f"(it has {', '.join(key.scopes)})")
            return key

        return check

    return need
