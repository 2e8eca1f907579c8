"""The baseline for bench_http.py: a bare aiohttp app, one handler returning a constant JSON
(and ``/sized/N``: a constant JSON of N bytes with Chronik's API headers, for diagnosis).

    .venv/bin/python bench/bare_server.py --port 18182

Same aiohttp, same serving call (``chronik/serving.py``), access log setting and event loop
(uvloop when installed, ``CHRONIK_EVENT_LOOP`` as for Chronik) as ``chronik serve``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chronik.serving import serve

BODY = b'{"status":"ok","search_backend":"none"}'


async def constant(_request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


_SIZED: dict[int, bytes] = {}
SIZED_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
                 "Server-Timing": "app;dur=0.0"}
"""The headers Chronik's API answers carry (besides Content-Type/Length, Date, Server)."""


async def sized(request: web.Request) -> web.Response:
    """``/sized/N``: a constant JSON body of N bytes (at most 1 MiB) with Chronik's API
    headers -- the framework's own cost of sending an answer as big as a lookup's."""
    n = min(int(request.match_info["n"]), 1 << 20)
    body = _SIZED.get(n)
    if body is None:
        body = _SIZED[n] = b'{"pad":"' + b"x" * max(0, n - 10) + b'"}'
    return web.Response(body=body, content_type="application/json", headers=SIZED_HEADERS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18182)
    args = ap.parse_args()
    app = web.Application()
    app.router.add_get(r"/sized/{n:\d+}", sized)
    app.router.add_get("/{tail:.*}", constant)
    kind = os.environ.get("CHRONIK_EVENT_LOOP", "auto")
    serve(app, args.host, args.port, listening=lambda: None,
          loop=kind if kind in ("uvloop", "asyncio") else "auto")


if __name__ == "__main__":
    main()
