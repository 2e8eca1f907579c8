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

Usage: ``python bench/fetch_mail_corpora.py`` (needs ``mvn``, ``apt-get``, ``dpkg-deb``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
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
    sdist = next(tmp.glob("*.tar.gz"))
    count = 0
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            inside = member.name.partition("/")[2]
            if not member.isfile() or not inside.startswith(prefix):
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            target = OUT / name / Path(inside).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())
            count += 1
    return count


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
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
