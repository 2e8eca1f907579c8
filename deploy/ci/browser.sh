#!/usr/bin/env bash
# Install the browser for Chronik's end-to-end browser tests (tests/browser): Debian's
# chromium at /usr/bin/chromium, driven by Playwright (pip package, no downloaded browser),
# plus fonts so pages and screenshots render real text.
#
# Idempotent: with everything installed it only checks (dpkg-query) and exits 0 in well
# under a second, as any user. Installing needs root; a non-root user gets `sudo -n`
# (non-interactive) when it works, otherwise a message and exit code 3 -- then the browser
# tests skip with a clear reason. See deploy/ci/README.md.
set -Eeuo pipefail

readonly CHROMIUM=/usr/bin/chromium        # keep in sync with tests/browser/conftest.py
readonly PACKAGES=(chromium fonts-liberation fonts-dejavu-core)
readonly APT_LOG=/tmp/chronik-browser-apt.log
readonly EXIT_NEEDS_ROOT=3                 # ./run goes on (tests skip); other codes stop it

export DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[browser] %s\n' "$*"; }
die() {
    printf '[browser] ERROR: %s\n' "$*" >&2
    exit 1
}
trap 'die "command failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

is_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        is_installed "$pkg" || printf '%s\n' "$pkg"
    done
}

mapfile -t missing < <(missing_packages)
if [[ -x $CHROMIUM ]] && ((${#missing[@]} == 0)); then
    log "chromium $(dpkg-query -W -f='${Version}' chromium) already installed at $CHROMIUM"
    exit 0
fi
if [[ ! -x $CHROMIUM ]] && is_installed chromium; then
    missing+=(chromium) # installed but the binary is gone: reinstall
fi

if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        log "not root: installing ${missing[*]} with sudo -n"
        exec sudo -n bash "$0" "$@"
    fi
    printf '[browser] not installed: %s; installing needs root (no sudo -n here).\n' \
        "${missing[*]}" >&2
    if [[ -x $CHROMIUM ]]; then
        printf '[browser] Run once: sudo bash %s  -- until then pages render with fallback fonts.\n' \
            "$0" >&2
    else
        printf '[browser] Run once: sudo bash %s  -- until then the browser tests are skipped.\n' \
            "$0" >&2
    fi
    exit "$EXIT_NEEDS_ROOT"
fi

apt_opts=(-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold)
install_packages() {
    apt-get "${apt_opts[@]}" install --no-install-recommends --reinstall "${missing[@]}" \
        >>"$APT_LOG" 2>&1
}
has_candidate() { # every missing package known to the current package lists?
    local pkg
    for pkg in "${missing[@]}"; do
        [[ $(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/{print $2}') =~ ^[0-9] ]] ||
            return 1
    done
}

: >"$APT_LOG"
log "installing ${missing[*]} (apt-get; log: $APT_LOG)"
# apt-get update only when needed: the lists are empty on a fresh image, or stale (a
# download that 404s). With current lists the install alone is enough.
if ! { has_candidate && install_packages; }; then
    log "apt-get update"
    apt-get -q -o DPkg::Lock::Timeout=300 update >>"$APT_LOG" 2>&1 || {
        tail -n 20 "$APT_LOG" >&2
        die "apt-get update failed; full log $APT_LOG"
    }
    install_packages || {
        tail -n 30 "$APT_LOG" >&2
        die "apt-get install ${missing[*]} failed; full log $APT_LOG"
    }
fi
[[ -x $CHROMIUM ]] || die "$CHROMIUM still missing after installing ${missing[*]}"
log "chromium $(dpkg-query -W -f='${Version}' chromium) installed at $CHROMIUM"
