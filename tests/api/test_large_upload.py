"""A multi-megabyte document upload (streamed in chunks) with form fields after the file."""

import io
from pathlib import Path

from aiohttp import ClientSession, FormData
from aiohttp.test_utils import TestServer

from chronik.api.base import hash_token
from chronik.app import create_app
from chronik.settings import Settings
from chronik.state import STATE
from timeline.models import Role


async def test_large_upload_with_fields_after_the_file(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, max_upload_bytes=5 * 1024 * 1024))
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    st = app[STATE]
    o = await st.store.create_office("O", "DE")
    await st.store.create_agent(o.id, "A", Role.ADMIN, hash_token("t"))
    c = await st.store.create_customer(o.id, "C", [])
    async with ClientSession() as s:
        form = FormData()
        form.add_field("file", io.BytesIO(b"x" * 2_000_000), filename="big.bin")
        form.add_field("subject", "after the file")
        form.add_field("notify", "false")
        url = str(srv.make_url(f"/api/v1/customers/{c.id}/entries"))
        async with s.post(url, data=form, headers={"Authorization": "Bearer t"}) as r:
            body = await r.json()
            assert r.status == 201, body
            assert body["attachments"][0]["size"] == 2_000_000
            assert body["subject"] == "after the file" and body["notify"] is False
    await srv.close()
