#!/usr/bin/env bash
# Install, configure and start Chronik's PostgreSQL for tests and CI:
#   Debian's PostgreSQL (15 on bookworm), a cluster of its own named chronik-test on
#   127.0.0.1:5433 (loopback only; the distro's default cluster on 5432 is not touched),
#   role chronik (password chronik-test, CREATEDB: tests create a fresh database each) and
#   the database chronik_test owned by it. Tests: CHRONIK_TEST_POSTGRES_URL, default
#   postgresql://chronik:chronik-test@127.0.0.1:5433/chronik_test (tests/support/postgres.py).
#
# Started with pg_ctlcluster (which runs pg_ctl itself where systemd is not PID 1), never by
# an init script: the cluster's start.conf is "manual".
#
# Idempotent: a second run with the cluster up and its config unchanged only checks (well
# under a second) and prints the URL. A cluster whose config changed, or that is down, is
# (re)started. Installing and starting needs root. As another user it re-runs itself with
# `sudo -n` when that works; otherwise it only checks that the server answers with the test
# credentials (exit 0), or says what is missing and exits 3 (./run test then goes on; the
# PostgreSQL tests skip, or fail with CHRONIK_TEST_REQUIRE_POSTGRES=1).
# The last line printed on stdout is the URL; progress goes to stderr.
set -Eeuo pipefail

# ---------------------------------------------------------------- constants
# Keep in sync with tests/support/postgres.py (DEFAULT_URL).
readonly BIND_ADDR=127.0.0.1
readonly PORT=5433
readonly CLUSTER=chronik-test
readonly ROLE=chronik
readonly PASSWORD=chronik-test
readonly DATABASE=chronik_test
readonly URL=postgresql://$ROLE:$PASSWORD@$BIND_ADDR:$PORT/$DATABASE
readonly PACKAGES=(postgresql)
readonly START_TIMEOUT=60 # seconds for the server to accept connections
readonly EXIT_NEEDS_ROOT=3 # ./run goes on with the tests; other codes stop it
readonly STATE_DIR=/run/chronik-postgres # lock and the hash of the running config

export DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[postgres] %s\n' "$*" >&2; }
die() {
    printf '[postgres] ERROR: %s\n' "$*" >&2
    exit 1
}
trap 'die "command failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------- helpers
is_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# The test role can log in over TCP with its password and reach its database.
answers() {
    command -v psql >/dev/null || return 1
    [[ $(PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=3 psql -X -A -t -q -w \
        -h "$BIND_ADDR" -p "$PORT" -U "$ROLE" -d "$DATABASE" \
        -c 'SELECT 1' 2>/dev/null) == 1 ]]
}

port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
port_owner() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:.*' || true; }

# ---------------------------------------------------------------- not root
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        log "not root: running as root with sudo -n"
        exec sudo -n bash "$0" "$@"
    fi
    if answers; then
        log "PostgreSQL answers on $BIND_ADDR:$PORT (checked as $(id -un);" \
            "its config is only re-applied by a run as root)"
        printf '%s\n' "$URL"
        exit 0
    fi
    problems=()
    for pkg in "${PACKAGES[@]}"; do
        is_installed "$pkg" || problems+=("package $pkg not installed")
    done
    problems+=("no PostgreSQL accepting $ROLE on $BIND_ADDR:$PORT/$DATABASE")
    printf '[postgres] not root and no sudo -n, so nothing can be installed or started:\n' >&2
    printf '[postgres]   - %s\n' "${problems[@]}" >&2
    printf '[postgres] Run once: sudo bash %s  -- until then tests/postgres skips' "$0" >&2
    printf ' (fails with CHRONIK_TEST_REQUIRE_POSTGRES=1).\n' >&2
    exit "$EXIT_NEEDS_ROOT"
fi

# One run at a time (CI and a developer, or two test sessions, may race).
mkdir -p "$STATE_DIR"
exec 9>"$STATE_DIR/lock"
flock -w 300 9 || die "another postgres.sh run holds $STATE_DIR/lock for >300 s"

# ---------------------------------------------------------------- package
missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt-get)"
    apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null || die "apt-get update failed"
    # The package must not start the distro's cluster (we run our own); most images
    # already have a policy-rc.d that says so.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    rc=0
    apt-get -y -q -o DPkg::Lock::Timeout=300 install --no-install-recommends "${missing[@]}" \
        >"${TMPDIR:-/tmp}/chronik-postgres-apt.log" 2>&1 || rc=$?
    if ((made_policy)); then rm -f "$policy"; fi
    if ((rc)); then
        tail -n 30 "${TMPDIR:-/tmp}/chronik-postgres-apt.log" >&2
        die "apt-get install ${missing[*]} failed (exit $rc); full log ${TMPDIR:-/tmp}/chronik-postgres-apt.log"
    fi
    is_installed postgresql || die "postgresql still not installed after apt-get"
fi
command -v pg_createcluster >/dev/null || die "pg_createcluster missing (postgresql-common?)"
getent passwd postgres >/dev/null || die "user postgres missing (postgresql-common postinst failed?)"

# The newest installed server version (bookworm: 15).
version=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null |
    awk -F/ '{print $5}' | sort -V | tail -n1)
[[ -n $version ]] || die "no PostgreSQL server binary under /usr/lib/postgresql/*/bin"
readonly ETC=/etc/postgresql/$version/$CLUSTER
readonly LOG_FILE=/var/log/postgresql/postgresql-$version-$CLUSTER.log

# ---------------------------------------------------------------- cluster
if [[ ! -f $ETC/postgresql.conf ]]; then
    if port_in_use "$PORT"; then
        die "port $PORT is taken by another process ($(port_owner "$PORT")); stop it first"
    fi
    log "creating cluster $version/$CLUSTER on $BIND_ADDR:$PORT"
    # C.UTF-8: text sorts by code point, as SQLite's BINARY collation does.
    pg_createcluster --port "$PORT" --start-conf manual --locale C.UTF-8 --encoding UTF8 \
        "$version" "$CLUSTER" -- --auth-local=peer --auth-host=scram-sha-256 \
        >"$STATE_DIR/createcluster.log" 2>&1 ||
        die "pg_createcluster failed: $(tail -n 5 "$STATE_DIR/createcluster.log")"
fi

conf=$ETC/conf.d/chronik.conf
tmp=$(mktemp "$STATE_DIR/chronik.conf.XXXXXX")
cat >"$tmp" <<EOF
# Managed by deploy/ci/postgres.sh -- edits are overwritten.
listen_addresses = '$BIND_ADDR'
port = $PORT
ssl = off
password_encryption = 'scram-sha-256'
max_connections = 200
shared_buffers = '128MB'
# A test server on a shared machine: kill forgotten transactions rather than let them hold
# back the change feed's horizon (timeline/pg_events.py).
idle_in_transaction_session_timeout = '10min'
log_min_messages = warning
log_connections = off
# A throwaway server for tests: no waiting for the disk. A crash of the machine may lose
# the test databases, which every test creates afresh anyway. Benchmarks that quote
# PostgreSQL figures say which settings they ran with (bench/RESULTS.md).
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
install -d -o postgres -g postgres "$ETC/conf.d"
if [[ -f $conf ]] && cmp -s "$tmp" "$conf"; then
    rm -f "$tmp"
else
    install -m 0644 -o postgres -g postgres "$tmp" "$conf"
    rm -f "$tmp"
    log "wrote $conf"
fi
config_hash=$(cat "$conf" "$ETC/postgresql.conf" "$ETC/pg_hba.conf" | sha256sum | cut -d' ' -f1)

cluster_online() { pg_ctlcluster "$version" "$CLUSTER" status >/dev/null 2>&1; }

# pg_ctlcluster with every inherited fd but 0-2 closed: the server must not hold our lock
# (fd 9) or a pipe of whoever runs this script (CI capturing output).
ctl() { # start|stop|restart
    (
        for fd in "/proc/$BASHPID/fd"/*; do
            fd=${fd##*/}
            if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        exec pg_ctlcluster "$version" "$CLUSTER" "$1" -- -w -t "$START_TIMEOUT"
    ) </dev/null >>"$STATE_DIR/ctl.log" 2>&1
}

if cluster_online && [[ $(cat "$STATE_DIR/config.hash" 2>/dev/null) == "$config_hash" ]]; then
    started=0
else
    rm -f "$STATE_DIR/config.hash"
    if cluster_online; then
        log "restarting cluster $version/$CLUSTER (config changed)"
        ctl restart || die "pg_ctlcluster restart failed; see $LOG_FILE and $STATE_DIR/ctl.log"
    else
        if port_in_use "$PORT"; then
            die "port $PORT is taken by another process ($(port_owner "$PORT")); stop it first"
        fi
        log "starting cluster $version/$CLUSTER (log: $LOG_FILE)"
        ctl start || {
            tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
            die "pg_ctlcluster start failed; see $LOG_FILE and $STATE_DIR/ctl.log"
        }
    fi
    started=1
fi

ready=0
for ((i = 0; i < START_TIMEOUT * 5; i++)); do
    if pg_isready -q -h "$BIND_ADDR" -p "$PORT"; then
        ready=1
        break
    fi
    sleep 0.2
done
if ((!ready)); then
    tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
    die "PostgreSQL did not accept connections on $BIND_ADDR:$PORT within ${START_TIMEOUT}s"
fi
printf '%s\n' "$config_hash" >"$STATE_DIR/config.hash"

# ---------------------------------------------------------------- role and database
if ((started)) || ! answers; then
    as_postgres() { runuser -u postgres -- "$@"; }
    sql() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d postgres "$@"; }
    sql -v role="$ROLE" -v pw="$PASSWORD" >/dev/null <<'EOF' || die "creating role failed"
SELECT format('CREATE ROLE %I LOGIN', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN CREATEDB NOSUPERUSER PASSWORD :'pw';
EOF
    sql -v role="$ROLE" -v db="$DATABASE" >/dev/null <<'EOF' || die "creating database failed"
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0', :'db', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
EOF
    answers || die "role $ROLE cannot log in to $BIND_ADDR:$PORT/$DATABASE with its password"
    log "ready: $URL (server $version)"
fi
printf '%s\n' "$URL"
