#!/usr/bin/env bash
# Fetch, configure and start a single-node OpenSearch for Chronik's search tests and bench:
#   OpenSearch 2.19.6 (Maven Central's minimal integ-test-zip + the analysis-common module,
#   for the German analysis) on http://127.0.0.1:9250, heap 512m, no security plugin.
#
# Idempotent: a second run with the node up and its config unchanged only checks and exits
# (well under a second). A node whose config changed, or that died, is (re)started.
# Needs Java >= 11 and Maven (both on the CI machines; as root they are installed with
# apt-get when missing). As root the node runs as the system user chronik-search under
# /var/lib/chronik-opensearch (OpenSearch refuses to run as root); as any other user it
# runs as that user under ${XDG_CACHE_HOME:-~/.cache}/chronik-opensearch. Without Java or
# Maven and without root it says what is missing and exits 3 (the search tests then skip,
# or fail when CHRONIK_TEST_REQUIRE_ENGINE=1). The last line printed is the node's URL.
# See deploy/ci/README.md.
set -Eeuo pipefail

# ---------------------------------------------------------------- constants
# Keep in sync with tests/search/conftest.py (DEFAULT_ENGINE_URL).
readonly VERSION=2.19.6
readonly BIND_ADDR=127.0.0.1
readonly HTTP_PORT=9250
readonly TRANSPORT_PORT=9350
readonly HEAP=512m
readonly RUN_USER_ROOT=chronik-search
readonly START_TIMEOUT=120     # seconds for the node to answer and turn yellow
readonly EXIT_NEEDS_ROOT=3     # ./run goes on with the tests; other codes stop it
readonly ZIP_ARTIFACT=org.opensearch.distribution.integ-test-zip:opensearch:$VERSION:zip
readonly ANALYSIS_ARTIFACT=org.opensearch.plugin:analysis-common:$VERSION:jar

export DEBIAN_FRONTEND=noninteractive
export PATH=$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[opensearch] %s\n' "$*" >&2; }
die() {
    printf '[opensearch] ERROR: %s\n' "$*" >&2
    exit 1
}
trap 'die "command failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

if [[ $(id -u) -eq 0 ]]; then
    readonly BASE=/var/lib/chronik-opensearch
    readonly RUN_USER=$RUN_USER_ROOT
else
    readonly BASE=${XDG_CACHE_HOME:-$HOME/.cache}/chronik-opensearch
    readonly RUN_USER=$(id -un)
fi
readonly HOME_DIR=$BASE/opensearch-$VERSION     # the unpacked distribution (+ module)
readonly DATA_DIR=$BASE/data
readonly LOG_DIR=$BASE/logs
readonly STATE_DIR=$BASE/run                    # pid file, config hash, lock
readonly PID_FILE=$STATE_DIR/opensearch.pid
readonly URL=http://$BIND_ADDR:$HTTP_PORT

# ---------------------------------------------------------------- helpers
http_get() { # path -> body on stdout; fails when the node does not answer 2xx
    curl -fsS --max-time 5 "$URL$1" 2>/dev/null
}

node_version() { # -> "opensearch 2.19.6" when a node answers on the port
    http_get / | tr -d '\n ' |
        sed -n 's/.*"distribution":"\([^"]*\)".*"number":"\([^"]*\)".*/\1 \2/p'
}

port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
port_owner() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:.*' || true; }

proc_alive() { # pid -- running and not a zombie
    local state
    state=$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

pid_alive() {
    local pid
    [[ -s $PID_FILE ]] || return 1
    pid=$(head -n1 "$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] && proc_alive "$pid"
}

stop_node() {
    local pid i
    pid_alive || return 0
    pid=$(head -n1 "$PID_FILE")
    log "stopping the running node (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        proc_alive "$pid" || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    sleep 0.5
}

run_as=()   # the node runs as RUN_USER: never as root
if [[ $(id -u) -eq 0 ]]; then
    run_as=(runuser -u "$RUN_USER" --)
fi

java_home() { # the JDK/JRE the node runs on (integ-test-zip bundles none)
    local java
    if [[ -n ${OPENSEARCH_JAVA_HOME:-} ]]; then
        printf '%s\n' "$OPENSEARCH_JAVA_HOME"
        return
    fi
    java=$(command -v java) || return 1
    java=$(readlink -f "$java")
    printf '%s\n' "${java%/bin/java}"
}

java_major() { # -> 17
    "$1/bin/java" -version 2>&1 | sed -n 's/.* version "\([0-9]*\)[."].*/\1/p' | head -n1
}

# ---------------------------------------------------------------- someone else's node
# Not root, and the node answers on the port but is not ours (root's /var/lib instance, CI):
# use it. Root always manages its own instance.
if [[ $(id -u) -ne 0 ]] && ! pid_alive && [[ $(node_version) == "opensearch $VERSION" ]]; then
    log "OpenSearch $VERSION already answers on $URL (not started by $(id -un)): using it"
    printf '%s\n' "$URL"
    exit 0
fi

# ---------------------------------------------------------------- prerequisites
missing=()
jhome=$(java_home) || jhome=''
if [[ -z $jhome || ! -x $jhome/bin/java ]]; then
    missing+=(java)
elif (($(java_major "$jhome") < 11)); then
    missing+=("java>=11 (found $(java_major "$jhome"))")
fi
if [[ ! -x $HOME_DIR/bin/opensearch ]] && ! command -v mvn >/dev/null; then
    missing+=(maven)
fi
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        printf '[opensearch] missing: %s; installing them needs root.\n' "${missing[*]}" >&2
        printf '[opensearch] Run once: sudo apt-get install openjdk-17-jre-headless maven curl' >&2
        printf '  -- until then the engine half of tests/search skips.\n' >&2
        exit "$EXIT_NEEDS_ROOT"
    fi
    log "installing openjdk-17-jre-headless maven curl (apt-get)"
    apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null || die "apt-get update failed"
    apt-get -y -q -o DPkg::Lock::Timeout=300 install --no-install-recommends \
        openjdk-17-jre-headless maven curl >"${TMPDIR:-/tmp}/chronik-opensearch-apt.log" 2>&1 ||
        die "apt-get install failed; see ${TMPDIR:-/tmp}/chronik-opensearch-apt.log"
    jhome=$(java_home) || die "java still missing after apt-get"
fi

mkdir -p "$BASE" "$STATE_DIR"
exec 9>"$STATE_DIR/lock"
flock -w 600 9 || die "another opensearch.sh run holds $STATE_DIR/lock for >600 s"

if [[ $(id -u) -eq 0 ]] && ! getent passwd "$RUN_USER" >/dev/null; then
    log "creating system user $RUN_USER"
    useradd --system --user-group --home-dir "$BASE" --no-create-home \
        --shell /usr/sbin/nologin --comment "Chronik test OpenSearch" "$RUN_USER"
fi

# ---------------------------------------------------------------- fetch + unpack
if [[ ! -x $HOME_DIR/bin/opensearch || ! -f $HOME_DIR/modules/analysis-common/plugin-descriptor.properties ]]; then
    dl=$BASE/download
    mkdir -p "$dl"
    for artifact in "$ZIP_ARTIFACT" "$ANALYSIS_ARTIFACT"; do
        log "fetching $artifact from Maven Central"
        mvn -q -B dependency:copy -Dartifact="$artifact" -DoutputDirectory="$dl" \
            -Dmaven.repo.local="$BASE/m2" \
            >"$dl/mvn.log" 2>&1 || {
            tail -n 20 "$dl/mvn.log" >&2
            die "mvn dependency:copy $artifact failed"
        }
    done
    tmp=$(mktemp -d "$BASE/unpack.XXXXXX")
    unzip -q "$dl/opensearch-$VERSION.zip" -d "$tmp"
    # The integ-test-zip ships only transport-netty4: the German analyzer, german_normalization
    # and the light German stemmer live in the analysis-common module (its jar is on Maven
    # Central; its Lucene dependency is already in lib/). Painless is absent, so the module's
    # optional Painless extension stays unused.
    module=$tmp/opensearch-$VERSION/modules/analysis-common
    mkdir -p "$module"
    cp "$dl/analysis-common-$VERSION.jar" "$module/"
    cat >"$module/plugin-descriptor.properties" <<EOF
description=Adds "built in" analyzers to OpenSearch.
version=$VERSION
name=analysis-common
classname=org.opensearch.analysis.common.CommonAnalysisPlugin
java.version=11
opensearch.version=$VERSION
extended.plugins=
has.native.controller=false
EOF
    rm -rf "$HOME_DIR"
    mv "$tmp/opensearch-$VERSION" "$HOME_DIR"
    rm -rf "$tmp"
    log "installed OpenSearch $VERSION in $HOME_DIR"
fi

# ---------------------------------------------------------------- config
mkdir -p "$DATA_DIR" "$LOG_DIR"
install_file() { # path (content on stdin)
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    cat >"$tmp"
    chmod 0644 "$tmp"
    if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then
        rm -f "$tmp"
    else
        mv -f "$tmp" "$1"
        log "wrote $1"
    fi
}

install_file "$HOME_DIR/config/opensearch.yml" <<EOF
# Managed by deploy/ci/opensearch.sh -- edits are overwritten.
cluster.name: chronik-test
node.name: chronik-test-1
discovery.type: single-node
network.host: $BIND_ADDR
http.port: $HTTP_PORT
transport.port: $TRANSPORT_PORT
path.data: $DATA_DIR
path.logs: $LOG_DIR
# A test node on a shared machine: never turn indices read-only because the disk is full-ish.
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: true
EOF
install_file "$HOME_DIR/config/jvm.options.d/chronik.options" <<EOF
-Xms$HEAP
-Xmx$HEAP
EOF
if [[ $(id -u) -eq 0 ]]; then
    chown -R "$RUN_USER:" "$BASE"
fi

config_hash=$(cat "$HOME_DIR/config/opensearch.yml" "$HOME_DIR/config/jvm.options.d/chronik.options" \
    <(printf '%s\n' "$jhome") | sha256sum | cut -d' ' -f1)

# ---------------------------------------------------------------- start
wait_ready() {
    local i health
    for ((i = 0; i < START_TIMEOUT * 2; i++)); do
        health=$(http_get "/_cluster/health?wait_for_status=yellow&timeout=1s" || true)
        if [[ $health == *'"status":"green"'* || $health == *'"status":"yellow"'* ]]; then
            return 0
        fi
        if [[ -s $PID_FILE ]] && ! pid_alive; then
            tail -n 30 "$LOG_DIR/chronik-test.log" "$LOG_DIR/stdout.log" >&2 2>/dev/null || true
            die "the node exited during start-up; logs in $LOG_DIR"
        fi
        sleep 0.5
    done
    tail -n 30 "$LOG_DIR/chronik-test.log" >&2 2>/dev/null || true
    die "the node did not turn yellow on $URL within ${START_TIMEOUT}s; logs in $LOG_DIR"
}

if pid_alive && [[ $(cat "$STATE_DIR/config.hash" 2>/dev/null) == "$config_hash" ]] &&
    [[ $(node_version) == "opensearch $VERSION" ]]; then
    log "already running with current config"
else
    stop_node
    rm -f "$PID_FILE" "$STATE_DIR/config.hash"
    for ((i = 0; i < 100; i++)); do
        port_in_use "$HTTP_PORT" || port_in_use "$TRANSPORT_PORT" || break
        sleep 0.1
    done
    if port_in_use "$HTTP_PORT" || port_in_use "$TRANSPORT_PORT"; then
        die "port $HTTP_PORT or $TRANSPORT_PORT is taken by another process" \
            "($(port_owner "$HTTP_PORT") $(port_owner "$TRANSPORT_PORT")); stop it first"
    fi
    log "starting OpenSearch $VERSION as $RUN_USER (java $(java_major "$jhome"), heap $HEAP; logs: $LOG_DIR)"
    # Daemonised (-d), every inherited fd but 0-2 closed so CI pipes and our lock are not held.
    rc=0
    (
        for fd in "/proc/$BASHPID/fd"/*; do
            fd=${fd##*/}
            if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        cd "$HOME_DIR"
        exec env -u OPENSEARCH_JAVA_OPTS JAVA_HOME="$jhome" OPENSEARCH_JAVA_HOME="$jhome" \
            OPENSEARCH_PATH_CONF="$HOME_DIR/config" \
            "${run_as[@]}" "$HOME_DIR/bin/opensearch" -d -p "$PID_FILE"
    ) </dev/null >>"$LOG_DIR/stdout.log" 2>&1 || rc=$?
    if ((rc)); then
        tail -n 30 "$LOG_DIR/stdout.log" >&2 || true
        die "bin/opensearch -d failed (exit $rc); logs in $LOG_DIR"
    fi
    wait_ready
    printf '%s\n' "$config_hash" >"$STATE_DIR/config.hash"
    log "up: $(node_version) on $URL"
fi
printf '%s\n' "$URL"
