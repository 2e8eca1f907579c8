"""Review (accountability): ``GET /api/v1/erasures`` showed the newest 100 receipts and no
more — an office that erased more could not show when it erased the others. It pages now
like the access record: ``limit`` (1-200, default 100) and ``cursor`` (``next_cursor``)."""

from __future__ import annotations

from tests.conftest import Hub


async def _erase(hub: Hub, name: str) -> str:
    status, c = await hub.admin.post("/customers", json={"name": name})
    status, preview = await hub.admin.get(f"/customers/{c['id']}/erasure")
    status, receipt = await hub.admin.call("DELETE", f"/customers/{c['id']}?confirm="
                                                     f"{preview['confirm']}")
    assert status == 200, receipt
    return str(receipt["receipt_id"])


async def test_erasure_receipts_page_back_to_the_first(hub: Hub) -> None:
    receipts = [await _erase(hub, f"Person {n}") for n in range(3)]
    status, first = await hub.admin.get("/erasures?limit=2")
    assert status == 200, first
    assert [r["id"] for r in first["items"]] == receipts[:0:-1]
    assert first["next_cursor"] == receipts[1]
    status, second = await hub.admin.get(f"/erasures?limit=2&cursor={first['next_cursor']}")
    assert [r["id"] for r in second["items"]] == [receipts[0]]
    assert second["next_cursor"] is None
    status, everything = await hub.admin.get("/erasures")
    assert [r["id"] for r in everything["items"]] == receipts[::-1]
    assert everything["next_cursor"] is None
    for bad in ("limit=abc", "limit=0", "limit=201", "cursor=nope"):
        status, body = await hub.admin.get(f"/erasures?{bad}")
        assert status == 400, (bad, body)
        assert body["error"]["code"] in ("invalid_input", "invalid_cursor")
    _, other = await hub.new_office()
    status, theirs = await other.get(f"/erasures?cursor={receipts[2]}")
    assert status == 200 and theirs["items"] == []
