"""The console's own API calls (session cookie + X-CSRF-Token) with header bytes that are
not UTF-8: refused as a wrong token (403), never a 500."""

from __future__ import annotations

import asyncio

from tests.web.conftest import Console, make_console  # noqa: F401  (fixtures)


async def test_a_csrf_token_of_bytes_that_are_not_utf8_is_403(make_console) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    console: Console = await make_console()
    desk = await console.signed_in()
    cookie = desk.cookie("chronik_session")
    assert cookie
    host, port = console.server.host, console.server.port
    reader, writer = await asyncio.open_connection(host, port)
    body = b'{"text": "Hallo", "customer_id": null}'
    writer.write(b"POST /api/v1/tone/check HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 b"Content-Type: application/json\r\n"
                 + f"Cookie: chronik_session={cookie}\r\n".encode()
                 + b"X-CSRF-Token: \xff\xfe\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 403"), answer[:300]  # was a 500
    assert b'"csrf"' in answer
