"""The agent console's figures, measured against a real server on a generated data set.

    .venv/bin/python bench/gen_dataset.py bench/data/console --customers 2000 \\
        --entries 100000 --seed 42 --big-customer-entries 100000
    .venv/bin/python bench/bench_console.py bench/data/console [--rounds 50] [--calls 20]

Measures (results printed and written to ``DATA_DIR/console-results.json``):

* **first screen of the 100,000-entry timeline**: ``GET /customers/<big customer>`` (the whole
  page: profile, pinned facts, open complaints, first 30 items, compose with presets and
  recipients) — server time from the ``Server-Timing: app;dur=…`` header every page carries,
  and the wall time seen by the client; warm (after 3 requests), ``--rounds`` times;
* **page weight of the console's first load**: headless Chromium (Debian's, via Playwright)
  signs in and opens ``/``; the sum of every response body the page loaded (HTML, CSS,
  scripts, icons) — what a browser with an empty cache transfers, uncompressed;
* **caller banner**: the page is open at ``/``; a CTI ``newCall`` is POSTed to the office's
  webhook with a known customer's number; the time from just before the POST until the
  banner shows the customer's name (a ``MutationObserver`` in the page stamps
  ``Date.now()``; same clock as the POST), ``--calls`` times with different customers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("CHRONIK_ROOT", Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from chronik.app import close_state, open_state  # noqa: E402
from chronik.settings import Settings  # noqa: E402
from chronik.web.auth import hash_password  # noqa: E402

EMAIL = "bench-agent@chronik.test"
PASSWORD = "bench-password-1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def prepare(data_dir: Path, meta: dict[str, Any]) -> None:
    state = await open_state(Settings(data_dir=data_dir))
    try:
        await state.store.set_agent_login(meta["agent_id"], email=EMAIL,
                                          password_hash=await hash_password(PASSWORD))
    finally:
        await close_state(state)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": round(statistics.median(values), 1),
            "p95": round(pct(values, 0.95), 1), "max": round(max(values), 1)}


async def sign_in(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(f"{base}/signin") as r:
        html = await r.text()
    csrf = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    async with session.post(f"{base}/signin", data={
            "csrf": csrf, "email": EMAIL, "password": PASSWORD, "method": "password",
            "next": "/"}, allow_redirects=False) as r:
        if r.status != 303:
            raise SystemExit(f"sign-in failed: {r.status}")


async def first_screen(base: str, customer_id: str, rounds: int) -> dict[str, Any]:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        await sign_in(session, base)
        server: list[float] = []
        wall: list[float] = []
        size = 0
        for i in range(rounds + 3):
            t0 = time.perf_counter()
            async with session.get(f"{base}/customers/{customer_id}") as r:
                body = await r.read()
                timing = r.headers.get("Server-Timing", "")
            elapsed = (time.perf_counter() - t0) * 1000
            if r.status != 200:
                raise SystemExit(f"customer page answered {r.status}")
            if i >= 3:
                server.append(float(timing.split("dur=", 1)[1]))
                wall.append(elapsed)
                size = len(body)
        return {"server_ms": summary(server), "wall_ms": summary(wall), "html_bytes": size}


def browser_figures(base: str, cti_path: str, phones: list[tuple[str, str]], calls: int
                    ) -> dict[str, Any]:
    import urllib.request

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(f"{base}/signin")
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        sizes: dict[str, int] = {}

        def weigh(response: Any) -> None:
            if response.request.resource_type in ("eventsource", "fetch"):
                return  # the live stream never ends; fetches come later
            try:
                sizes[response.url] = len(response.body())
            except Exception:
                sizes.setdefault(response.url, 0)
        page.on("response", weigh)
        page.click("button[value=password]")
        page.wait_for_load_state("networkidle")
        weight = {"total_bytes": sum(sizes.values()),
                  "resources": {u.replace(base, ""): n for u, n in sorted(sizes.items())}}
        page.evaluate("""() => {
          window.__bannerAt = null;
          new MutationObserver(() => {
            const b = document.getElementById('caller-banner');
            if (b && !b.hidden && b.dataset.expect && b.textContent.includes(b.dataset.expect)
                && window.__bannerAt === null) window.__bannerAt = Date.now();
          }).observe(document.getElementById('caller-banner'),
                     {childList: true, subtree: true, attributes: true});
        }""")
        latencies: list[float] = []
        for i, (number, name) in enumerate(phones[:calls]):
            page.evaluate("""(name) => {
              const b = document.getElementById('caller-banner');
              b.replaceChildren(); b.hidden = true; b.dataset.expect = name;
              window.__bannerAt = null; }""", name)
            t0 = time.time() * 1000
            body = json.dumps({"event": "newCall", "callId": f"bench-{i}-{t0}", "from": number,
                               "to": "+4930123456", "direction": "in"}).encode()
            req = urllib.request.Request(base + cti_path, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req) as r:
                r.read()
            deadline = time.monotonic() + 5
            while (at := page.evaluate("window.__bannerAt")) is None:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no banner for {number}")
                page.wait_for_timeout(5)
            latencies.append(at - t0)
        browser.close()
    return {"page_weight": weight, "banner_ms": summary(latencies)}


async def customers_with_phones(base: str, token: str, phones: list[str]
                                ) -> list[tuple[str, str]]:
    out = []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for number in phones:
            async with session.get(f"{base}/api/v1/lookup", params={"phone": number}) as r:
                found = await r.json()
            if found["matches"]:
                out.append((number, found["matches"][0]["customer"]["name"]))
        async with session.get(f"{base}/api/v1/office") as r:
            office = await r.json()
    out.append(("", office["cti_url_path"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--processes", type=int, default=1,
                        help="serve with --processes N (the CTI POST and the page's event "
                             "stream may then be in different processes)")
    args = parser.parse_args()
    meta = json.loads((args.data_dir / "bench-meta.json").read_text())
    asyncio.run(prepare(args.data_dir, meta))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CHRONIK_NOTIFY_WORKER": "false", "CHRONIK_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "chronik.cli", "--data-dir",
                               str(args.data_dir), "serve", "--port", str(port),
                               "--processes", str(args.processes)], cwd=ROOT,
                              env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        screen = asyncio.run(first_screen(base, meta["big_customer_id"], args.rounds))
        phones = [p["formats"][0] if isinstance(p, dict) else p for p in meta["phones"]]
        found = asyncio.run(customers_with_phones(base, meta["token"], phones[:args.calls * 2]))
        cti_path = found.pop()[1]
        figures = browser_figures(base, cti_path, found, args.calls)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    result = {"count": meta["count"], "seed": meta["seed"],
              "big_customer_entries": meta["big_customer_entries"], "first_screen": screen,
              **figures}
    (args.data_dir / "console-results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
