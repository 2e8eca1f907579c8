"""``chronik serve --processes N``: clear errors instead of half-started servers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.cluster import base_env
from tests.support.live_server import HOST, ROOT, child_pids, free_port, seed

pytestmark = pytest.mark.timeout(120)


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir),
                           "serve", "--host", HOST, *args], capture_output=True, text=True,
                          env=base_env(), cwd=ROOT, timeout=90)


def test_zero_processes_is_refused(tmp_path: Path) -> None:
    seed(tmp_path / "data", base_env())
    done = run(tmp_path / "data", "--processes", "0")
    assert done.returncode == 2
    assert "chronik: --processes must be at least 1" in done.stderr


def test_a_taken_port_stops_every_process_with_a_message(tmp_path: Path) -> None:
    seed(tmp_path / "data", base_env())
    with socket.socket() as taken:  # an ordinary listener, without SO_REUSEPORT
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(tmp_path / "data", "--port", str(port), "--processes", "2")
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on {HOST}:{port}" in done.stderr
    assert "exited with code 2; stopped the others" in done.stderr
    assert "Traceback" not in done.stderr


@contextlib.contextmanager
def _serving(data_dir: Path, processes: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``chronik serve --processes N`` on a free port in a process group of its own (as a
    terminal's job has), killed with its group should the test leave it running, its pipes
    closed."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "chronik.cli", "--data-dir", str(data_dir), "serve",
         "--host", HOST, "--port", str(port), "--processes", str(processes)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=base_env(), cwd=ROOT,
        start_new_session=True)
    with server:  # (its pipes closed also when the test fails before reading them)
        try:
            yield server, port
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def _refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) != 0


def _api(port: int, token: str, path: str, body: bytes, content_type: str) -> Any:
    request = urllib.request.Request(f"http://{HOST}:{port}/api/v1{path}", data=body,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def _document(port: int, token: str, content: bytes) -> str:
    """A customer with a document entry holding ``content``: the download's path."""
    customer = _api(port, token, "/customers",
                    json.dumps({"name": "Greta Signal"}).encode(), "application/json")
    form = (b"--b0undary\r\nContent-Disposition: form-data; name=\"notify\"\r\n\r\nfalse"
            b"\r\n--b0undary\r\nContent-Disposition: form-data; name=\"file\"; "
            b"filename=\"scan.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            + content + b"\r\n--b0undary--\r\n")
    entry = _api(port, token, f"/customers/{customer['id']}/entries", form,
                 "multipart/form-data; boundary=b0undary")
    return f"/api/v1/entries/{entry['id']}/attachments/0"


@pytest.mark.parametrize("processes", [1, 3])
def test_more_signals_during_the_shutdown_cut_nothing_short(tmp_path: Path,
                                                            processes: int) -> None:
    """Ctrl-C in a terminal signals the whole process group: every process of ``serve
    --processes N`` gets SIGINT, and then the parent's SIGTERM; an impatient user presses
    Ctrl-C again. Signals that land while the shutdown runs (here: while it waits for a
    download in flight) cut nothing short: the download completes, the server exits 0
    without a traceback."""
    _office, admin, _agent = seed(tmp_path / "data", base_env())
    content = os.urandom(20 * 1024 * 1024)  # more than the sockets' buffers take
    with _serving(tmp_path / "data", processes) as (server, port):
        assert server.stdout is not None and server.stderr is not None
        banner = server.stdout.readline()
        assert "Chronik serving on" in banner, server.stderr.read()
        servers = ([server.pid] if processes == 1 else
                   [int(pid) for pid in banner.split("pids ")[1].split(")")[0].split(", ")])
        path = _document(port, admin, content)
        with socket.socket() as download:
            download.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            download.settimeout(60)
            download.connect((HOST, port))
            download.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n"
                             f"Authorization: Bearer {admin}\r\n\r\n".encode())
            received = download.recv(4096)  # then read nothing: the download is in flight
            os.killpg(server.pid, signal.SIGINT)
            deadline = time.monotonic() + 30
            while not _refused(port) and time.monotonic() < deadline:
                time.sleep(0.01)  # until the shutdown has begun: nothing listens
            for _ in range(3):  # SIGTERM (the parent's, a second Ctrl-C) during it
                for pid in servers:  # (an idle one may have ended already)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                time.sleep(0.1)
            while chunk := download.recv(1 << 20):
                received += chunk
        _out, err = server.communicate(timeout=60)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), (head, err)
    assert body == content, f"{len(body)} of {len(content)} bytes; {err}"
    assert server.returncode == 0, err
    assert "Traceback" not in err, err


def test_ctrl_c_while_the_processes_start_ends_them_quietly(tmp_path: Path) -> None:
    """Ctrl-C right after ``serve --processes N`` was started reaches processes that are
    still importing their modules: it stops them all without a traceback and exit 0 (the
    parent stops them; they do not take the terminal's Ctrl-C themselves)."""
    seed(tmp_path / "data", base_env())
    with _serving(tmp_path / "data", 3) as (server, _port):
        deadline = time.monotonic() + 60
        while len(child_pids(server.pid)) < 3 and server.poll() is None:
            assert time.monotonic() < deadline, "the server processes did not start"
            time.sleep(0.005)
        os.killpg(server.pid, signal.SIGINT)  # they are starting: importing, opening
        out, err = server.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert "KeyboardInterrupt" not in err, err
    assert server.returncode == 0, err
    assert "Chronik serving on" not in out  # stopped before all of them listened
