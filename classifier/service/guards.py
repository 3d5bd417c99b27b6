"""Checks made before a request's body is read: its size, and the API key of ``/v1`` calls.

A pure ASGI middleware, so an over-limit or unauthenticated body is refused without being parsed. It is
the one place the API key is checked; a CORS preflight (OPTIONS) carries no key and is let through.
"""

import json
import secrets

from .settings import Settings

ADMIN_PREFIX = "/v1/admin/"
# What the service says about itself: protected like /v1 when API keys are set, unless made public.
META_PATHS = ("/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
# Calls that carry their own proof instead of X-API-Key: Bitrix24's events (its application token).
OWN_AUTH_PATHS = ("/v1/bitrix24/events",)


def key_matches(given: str, keys: list[str]) -> bool:
    """``given`` equals one of ``keys``, compared in constant time; any header value is safe to pass."""
    given_bytes = given.encode("utf-8", "surrogateescape")
    return any(secrets.compare_digest(given_bytes, key.encode("utf-8")) for key in keys)


class GuardMiddleware:
    def __init__(self, app, settings: Settings):
        self.app, self.settings = app, settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        limit = self.settings.max_body_bytes
        path = scope.get("path", "")
        keys = self.settings.api_keys
        guarded = scope.get("method") != "OPTIONS" and (
            (path.startswith("/v1/") and not path.startswith(ADMIN_PREFIX) and path not in OWN_AUTH_PATHS)
            or (path in META_PATHS and not self.settings.public_meta))
        if keys and guarded and not key_matches(headers.get("x-api-key", ""), keys):
            return await _refuse(send, 401, "missing or invalid X-API-Key header")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await _refuse(send, 413, f"body is {int(declared)} bytes, the limit is {limit} "
                                            "(CRMQC_MAX_BODY_BYTES)")
        seen, refused = 0, False

        async def counted():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > limit:  # answer now; the app sees the client go away
                    refused = True
                    await _refuse(send, 413, f"body is over the limit of {limit} bytes (CRMQC_MAX_BODY_BYTES)")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not refused:
                raise


async def _refuse(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail, "errors": []}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
