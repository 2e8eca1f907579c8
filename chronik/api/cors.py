"""Calls to the HTTP API from web pages of other origins (CORS, ``CHRONIK_CORS_ORIGINS``).

Off unless origins are configured (then this middleware is added, outermost, so that error
answers carry the headers too and a page can read them). The API is called with a bearer
token, never with cookies, so credentials are not allowed (``Access-Control-Allow-
Credentials`` is never sent): a page of another origin can use the API only with a token it
was given. The console's and portal's pages are not opened to other origins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from chronik.api.base import API_PREFIX, error_response

ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, If-None-Match, If-Match, Idempotency-Key"
EXPOSED_HEADERS = "ETag, Retry-After, Location, Content-Disposition, Server-Timing"
MAX_AGE = "600"
"""Seconds a browser may keep a preflight's answer."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def cors_middleware(origins: frozenset[str]) -> Middleware:
    any_origin = "*" in origins

    def allowed(origin: str) -> bool:
        return any_origin or origin.rstrip("/").lower() in origins

    def decorate(response: web.StreamResponse, origin: str) -> None:
        if response.prepared:  # a stream that has sent its headers already
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        vary = response.headers.get("Vary")
        response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None or not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if not allowed(origin):
                return error_response(403, "origin_not_allowed",
                                      f"this API is not open to pages of {origin}; an admin "
                                      "can add it to CHRONIK_CORS_ORIGINS")
            preflight = web.Response(status=204)
            decorate(preflight, origin)
            preflight.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            preflight.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            preflight.headers["Access-Control-Max-Age"] = MAX_AGE
            return preflight
        if not allowed(origin):
            return await handler(request)  # no headers: the browser keeps the answer
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            decorate(exc, origin)
            raise
        decorate(response, origin)
        return response

    return cors
