"""The baseline for bench_http.py: a bare aiohttp app, one handler returning a constant JSON.

    .venv/bin/python bench/bare_server.py --port 18182

Same aiohttp, same ``web.run_app`` call and access log setting as ``chronik serve``.
"""

from __future__ import annotations

import argparse

from aiohttp import web

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
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
