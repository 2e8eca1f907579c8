"""What Sisimai itself reads from each mail of a folder: the reference for
``bench/bounce_rates.py --sisimai``.

    .venv/bin/python bench/sisimai_reference.py FOLDER

FOLDER holds bounce mails of Sisimai's ``set-of-emails`` (BSD-2), one ``.eml`` each, copied by
hand (no package registry carries the set). The Perl Sisimai that Debian packages
(``apt-get install libsisimai-perl``, 4.25) reads every one of them; the result goes to
``bench/data/sisimai/expected.json`` (``{"file.eml": {"action": ..., "addresses": [...]}}``)
next to a copy of each mail:

* mails Sisimai finds nothing in, auto-replies (``vacation``) and spam complaints
  (``feedback``) are left out; so are reports without an address;
* the action is ``delivered`` where every recipient was delivered (or relayed or expanded),
  ``delayed`` where every one was delayed, else ``failed``;
* :data:`CORRECTIONS` -- read by hand -- set the action where Sisimai's contradicts the mail's
  own words (an Exim "Warning: … delayed" is a delay; "This is a permanent error" is a
  failure). The addresses are always Sisimai's, also where Chronik names another one on
  purpose (``Original-Recipient`` before ``Final-Recipient``: the address the office wrote
  to), so those count as misses.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "sisimai"

READ = r"""
use strict; use warnings; use Sisimai; use JSON::PP;
my $json = JSON::PP->new->canonical;
for my $path (@ARGV) {
    my $v = eval { Sisimai->make($path, 'delivered' => 1, 'vacation' => 1) } || [];
    my @out = map { { address => $_->recipient->address, action => ($_->action // ''),
                      reason => ($_->reason // '') } } @$v;
    (my $name = $path) =~ s{.*/}{};
    print $json->encode({ file => $name, data => \@out }), "\n";
}
"""

CORRECTIONS = {
    "lhost-exim-38.eml": ("delayed", "Exim 'Warning: message … delayed 24 hours', "
                                     "'Delivery attempts will continue'"),
    "lhost-exim-41.eml": ("delayed", "Exim 'Warning: message … delayed 24 hours', "
                                     "'Delivery attempts will continue'"),
    "lhost-gmail-15.eml": ("failed", "Gmail gave up: X-Failed-Recipients, "
                                     "'Delivery Status Notification (Failure)'"),
    "lhost-sendgrid-03.eml": ("failed", "'Undelivered Mail Returned to Sender'"),
    "lhost-imailserver-04.eml": ("failed", "'Undeliverable Mail', 'Delivery failed 20 "
                                           "attempts'"),
    "lhost-mailru-10.eml": ("failed", "'This is a permanent error. The following "
                                      "address(es) failed'"),
}


def main() -> None:
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: bench/sisimai_reference.py FOLDER (of .eml files)")
    if shutil.which("perl") is None or subprocess.run(
            ["perl", "-MSisimai", "-e1"], capture_output=True).returncode != 0:
        sys.exit("needs the Perl Sisimai: apt-get install libsisimai-perl")
    files = sorted(Path(sys.argv[1]).glob("*.eml"))
    done = subprocess.run(["perl", "-e", READ, *map(str, files)], capture_output=True,
                          text=True, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    expected: dict[str, dict[str, object]] = {}
    left_out: Counter[str] = Counter()
    for line in done.stdout.splitlines():
        read = json.loads(line)
        name, data = read["file"], read["data"]
        reasons = {d["reason"] for d in data}
        actions = {d["action"] for d in data}
        addresses = sorted({d["address"].lower() for d in data if d["address"]})
        if not data or reasons & {"vacation", "feedback"} or not addresses:
            left_out["nothing, an auto-reply or a complaint"] += 1
            continue
        if actions <= {"delivered", "expanded", "relayed"} or reasons == {"delivered"}:
            action = "delivered"
        elif actions == {"delayed"}:
            action = "delayed"
        else:
            action = "failed"
        want: dict[str, object] = {"action": action, "addresses": addresses}
        if name in CORRECTIONS:
            want["action"], want["note"] = CORRECTIONS[name]
        expected[name] = want
        shutil.copyfile(Path(sys.argv[1]) / name, OUT / name)
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False),
                                       "utf-8")
    print(f"{len(files)} mails: {len(expected)} reports with an address into {OUT}; "
          f"left out: {dict(left_out)}")


if __name__ == "__main__":
    main()
