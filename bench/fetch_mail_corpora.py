"""Fetch public test messages of other mail parsers into ``bench/data/mail-corpora/``.

Used by ``bench/check_mail_corpora.py`` (run every message through Chronik's parser).
Nothing here is copied into the repository: ``bench/data/`` is git-ignored.

Sources (each through its ordinary client):

* Apache James mime4j: ``apache-mime4j-core`` tests jar from Maven Central (``testmsgs/``,
  ``mimetools-testmsgs/``). 0.8.15 publishes no tests jar; 0.8.11 does
  (``apache-mime4j-dom`` has none: 0.8.4, 0.8.11 and 0.8.15 tried).
* Apache Tika: ``tika-parser-mail-module`` tests jar (``test-documents/*.eml``, ``*.mbox``).
* mail-parser (SpamScope): ``tests/mails/`` of its source distribution on PyPI (``pip
  download --no-binary``): real spam and malware mail, malformed on purpose.
* CPython: ``Lib/test/test_email/data/msg_*.txt`` from Debian's
  ``libpython3.<minor>-testsuite`` (``apt-get download``, then ``dpkg-deb -x``).
* Go's enmime (its test mails, with a second parser's reading in its tests), Mailpit and
  Inbucket: through the Go module proxy (``go mod download``).
* Stalwart's ``mail-parser`` crate: ``resources/eml/`` (with that parser's expected output as
  JSON; ``thirdparty/`` holds Dovecot's test mails), from crates.io.

Usage: ``python bench/fetch_mail_corpora.py`` (needs ``mvn``, ``go``, ``apt-get``,
``dpkg-deb``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "mail-corpora"
JARS = {
    "mime4j": ("org.apache.james:apache-mime4j-core:0.8.11:jar:tests",
               ("testmsgs/", "mimetools-testmsgs/")),
    "tika": ("org.apache.tika:tika-parser-mail-module:3.3.1:jar:tests", ("test-documents/",)),
}


def fetch_jar(name: str, artifact: str, prefixes: tuple[str, ...], tmp: Path) -> int:
    subprocess.run(["mvn", "-q", "dependency:copy", f"-Dartifact={artifact}",
                    f"-DoutputDirectory={tmp}"], check=True)
    jar = next(tmp.glob("*-tests.jar"))
    count = 0
    with zipfile.ZipFile(jar) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(prefixes):
                continue
            target = OUT / name / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            count += 1
    jar.unlink()
    return count


def fetch_cpython(tmp: Path) -> int:
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    package = f"libpython{minor}-testsuite"
    subprocess.run(["apt-get", "download", package], check=True, cwd=tmp)
    deb = next(tmp.glob(f"{package}_*.deb"))
    root = tmp / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    data = next(root.glob("usr/lib/python3*/test/test_email/data"))
    target = OUT / "cpython"
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(data.glob("msg_*.txt")):
        shutil.copy(path, target / path.name)
        count += 1
    return count


def fetch_sdist(name: str, requirement: str, prefix: str, tmp: Path) -> int:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--no-binary", ":all:", "-d", str(tmp), requirement], check=True)
    with tarfile.open(next(tmp.glob("*.tar.gz"))) as tar:
        return extract(tar, prefix, lambda inside: OUT / name / Path(inside).name)


def extract(tar: tarfile.TarFile, prefix: str, where: Callable[[str], Path]) -> int:
    """The files under ``prefix`` (inside the archive's top folder), each written to
    ``where(path inside the top folder)``; how many."""
    count = 0
    for member in tar.getmembers():
        inside = member.name.partition("/")[2]
        if not member.isfile() or not inside.startswith(prefix):
            continue
        source = tar.extractfile(member)
        if source is None:
            continue
        target = where(inside)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read())
        count += 1
    return count


GO_MODULES = {  # name: (module@version, {folder in the module: folder here})
    "enmime": ("github.com/jhillyerd/enmime@v1.3.0", {
        "testdata/mail": "testdata-mail", "testdata/low-quality": "testdata-low-quality",
        "testdata/parts": "testdata-parts", "dsn/testdata": "dsn-testdata",
        "testdata/encode": "testdata-encode"}),
    "mailpit": ("github.com/axllent/mailpit@v1.33.1", {"internal/storage/testdata": ""}),
    "inbucket": ("github.com/inbucket/inbucket/v3@v3.2.0", {
        "etc/swaks-tests": "swaks-tests", "pkg/test/testdata": "pkg-test-testdata"}),
}
CRATES = {"stalwart-mail-parser": ("mail-parser", "0.11.9", "resources/eml/")}
MAIL_SUFFIXES = (".eml", ".raw", ".golden", ".txt", ".msg")


def fetch_go(name: str, module: str, folders: dict[str, str], tmp: Path) -> int:
    """A Go module's test mails, through the Go module proxy (``go mod download``); files
    named ``.raw``/``.golden`` are written as ``.eml``."""
    env = {**os.environ, "GOPATH": str(tmp), "GOFLAGS": "-modcacherw"}
    found = subprocess.run(["go", "mod", "download", "-json", module], check=True, env=env,
                           capture_output=True, text=True)
    root = Path(json.loads(found.stdout)["Dir"])
    count = 0
    for inside, here in folders.items():
        for path in sorted((root / inside).glob("*")):
            if not path.is_file() or path.suffix not in MAIL_SUFFIXES:
                continue
            target = OUT / name / here / (path.stem + (".eml" if path.suffix in (
                ".raw", ".golden") else path.suffix))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            count += 1
    return count


def fetch_crate(name: str, crate: str, version: str, prefix: str) -> int:
    """A Rust crate's test mails, from crates.io's download address."""
    url = f"https://static.crates.io/crates/{crate}/{crate}-{version}.crate"
    with urllib.request.urlopen(url, timeout=60) as answer:
        data = answer.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return extract(tar, prefix, lambda inside: OUT / name / inside.removeprefix(prefix))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (module, folders) in GO_MODULES.items():
        with tempfile.TemporaryDirectory() as tmp:
            print(name, fetch_go(name, module, folders, Path(tmp)), "files")
    for name, (crate, version, prefix) in CRATES.items():
        print(name, fetch_crate(name, crate, version, prefix), "files")
    for name, (artifact, prefixes) in JARS.items():
        with tempfile.TemporaryDirectory() as tmp:
            print(name, fetch_jar(name, artifact, prefixes, Path(tmp)), "files")
    with tempfile.TemporaryDirectory() as tmp:
        print("mail-parser", fetch_sdist("mail-parser", "mail-parser==4.8.0", "tests/mails/",
                                         Path(tmp)), "files")
    with tempfile.TemporaryDirectory() as tmp:
        print("cpython", fetch_cpython(Path(tmp)), "files")


if __name__ == "__main__":
    main()
