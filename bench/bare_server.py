"""The baseline for bench_http.py: a bare aiohttp app, one handler returning a constant JSON.

    .venv/bin/python bench/bare_server.py --port 18182

Same aiohttp, same ``web.run_app`` call, access log setting and event loop (uvloop when
installed, ``CHRONIK_EVENT_LOOP`` as for Chronik) as ``chronik serve``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chronik.loops import new_loop

BODY = b'{"status":"ok","search_backend":"none"}'


async def constant(_request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18182)
    args = ap.parse_args()
    app = web.Application()
    app.router.add_get("/{tail:.*}", constant)
    kind = os.environ.get("CHRONIK_EVENT_LOOP", "auto")
    loop = new_loop(kind if kind in ("uvloop", "asyncio") else "auto")
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, loop=loop)


if __name__ == "__main__":
    main()
