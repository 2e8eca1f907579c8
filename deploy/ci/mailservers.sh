#!/usr/bin/env bash
# Install, configure and start Chronik's local test mail servers:
#   * dovecot (IMAP + IDLE)   on 127.0.0.1:10143, users chronik / chronik2
#   * a second dovecot          on 127.0.0.1:10144, the same users, folders under "INBOX."
#   * exim4   (SMTP relay)    on 127.0.0.1:2525, delivers <lp>@chronik.test into
#                             /var/lib/chronik-mail/smtp/<lp>/Maildir
# Both run as standalone instances with their own config files (the distro's
# /etc/dovecot and /etc/exim4 configs are not used) and are started directly,
# not through systemd/init scripts.
#
# Idempotent: safe to run any number of times. A second run with everything up
# and unchanged only checks and exits (well under 5 s). A daemon whose config
# changed since it was started, or that died, is (re)started.
# Installing and (re)starting needs root. As another user it re-runs itself with `sudo -n`
# when that works; otherwise it only checks that both servers answer (exit 0), or says
# what is missing and exits 3 (./run test then goes on; the mail tests report it).
# See deploy/ci/README.md.
set -Eeuo pipefail

# ---------------------------------------------------------------- constants
# Keep in sync with tests/support/mailservers.py.
readonly BIND_ADDR=127.0.0.1
readonly IMAP_PORT=10143
readonly IMAP_PREFIXED_PORT=10144  # a second dovecot: folders under "INBOX." (Courier/cPanel style)
readonly SMTP_PORT=2525
readonly MAIL_DOMAIN=chronik.test
readonly IMAP_USERS=("chronik:chronik-test" "chronik2:chronik-test2")

readonly MAIL_ROOT=/var/lib/chronik-mail          # <user>/Maildir (IMAP), smtp/<lp>/Maildir (exim)
readonly SMTP_MAIL_ROOT=$MAIL_ROOT/smtp
readonly LOG_DIR=/var/log/chronik-mail
readonly RUN_DIR=/run/chronik-mail               # state: config hashes of running daemons
readonly VMAIL_USER=vmail

readonly DOVECOT_ETC=/etc/chronik-dovecot
readonly DOVECOT_CONF=$DOVECOT_ETC/dovecot.conf
readonly DOVECOT_USERS=$DOVECOT_ETC/users
readonly DOVECOT_BASE=/run/chronik-dovecot
readonly DOVECOT_PREFIXED_CONF=$DOVECOT_ETC/dovecot-prefixed.conf
readonly DOVECOT_PREFIXED_BASE=/run/chronik-dovecot-prefixed

readonly EXIM_ETC=/etc/chronik-exim
readonly EXIM_CONF=$EXIM_ETC/exim.conf
readonly EXIM_LOCALPARTS=$EXIM_ETC/local_parts
readonly EXIM_SPOOL=/var/spool/chronik-exim
readonly EXIM_PID=$RUN_DIR/exim.pid
readonly EXIM_TRUSTED_LIST=/etc/exim4/trusted_configs
readonly EXIM_USER=Debian-exim

readonly PACKAGES=(dovecot-imapd exim4-daemon-light)
readonly START_TIMEOUT=30   # seconds to wait for a port to answer

export DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[mailservers] %s\n' "$*"; }
die() {
    printf '[mailservers] ERROR: %s\n' "$*" >&2
    exit 1
}
trap 'die "command failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------- helpers
is_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# Answers the port with the expected greeting prefix? (bash /dev/tcp, no deps)
port_greets() { # port prefix
    local port=$1 prefix=$2 line=''
    # shellcheck disable=SC2016
    line=$(timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        IFS= read -r -t 2 l <&3 || exit 1
        printf "%s" "$l"
        exec 3>&-' "$BIND_ADDR" "$port" 2>/dev/null) || return 1
    [[ $line == "$prefix"* ]]
}

port_in_use() { # port
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

wait_port_free() { # port -- leftovers of a killed daemon may need a moment
    local i
    for ((i = 0; i < 50; i++)); do
        port_in_use "$1" || return 0
        sleep 0.1
    done
    return 1
}

port_owner() { # port -> "users:(("name",pid=..))" or empty
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:.*' || true
}

wait_for_port() { # name port prefix logfile
    local name=$1 port=$2 prefix=$3 logfile=$4 i
    for ((i = 0; i < START_TIMEOUT * 5; i++)); do
        port_greets "$port" "$prefix" && return 0
        sleep 0.2
    done
    printf '[mailservers] ERROR: %s did not answer on %s:%s within %ss; last log lines (%s):\n' \
        "$name" "$BIND_ADDR" "$port" "$START_TIMEOUT" "$logfile" >&2
    tail -n 30 "$logfile" >&2 2>/dev/null || true
    exit 1
}

proc_alive() { # pid -- running and not a zombie (PID 1 here may reap late)
    local state
    state=$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

pid_alive() { # pidfile
    local pid
    [[ -s $1 ]] || return 1
    pid=$(head -n1 "$1")
    [[ $pid =~ ^[0-9]+$ ]] && proc_alive "$pid"
}

stop_pidfile() { # name pidfile
    local name=$1 pidfile=$2 pid i
    pid_alive "$pidfile" || return 0
    pid=$(head -n1 "$pidfile")
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        proc_alive "$pid" || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    sleep 0.2
}

# Start a self-daemonizing server with stdin/stdout/stderr redirected (by the
# caller) and every other inherited fd closed: a daemon holding our lock (fd 9)
# or a pipe of whoever runs this script (CI capturing output) would block them.
launch() { # cmd args...
    (
        for fd in "/proc/$BASHPID/fd"/*; do
            fd=${fd##*/}
            if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        exec "$@"
    )
}

# Write content (stdin) to path unless it is already identical.
install_file() { # path mode owner:group
    local path=$1 mode=$2 owner=$3 tmp
    tmp=$(mktemp "$path.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
        rm -f "$tmp"
        chmod "$mode" "$path"
        chown "$owner" "$path"
    else
        mv -f "$tmp" "$path"
        log "wrote $path"
    fi
}

# ---------------------------------------------------------------- not root
readonly EXIT_NEEDS_ROOT=3 # ./run goes on with the tests; other codes stop it
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        log "not root: running as root with sudo -n"
        exec sudo -n bash "$0" "$@"
    fi
    # Without root: nothing can be installed or (re)started, only checked. The configs
    # are root's (the users file is not even readable), so they are not compared.
    problems=()
    for pkg in "${PACKAGES[@]}"; do
        is_installed "$pkg" || problems+=("package $pkg not installed")
    done
    port_greets "$IMAP_PORT" "* OK" || problems+=("dovecot not answering on $BIND_ADDR:$IMAP_PORT")
    port_greets "$IMAP_PREFIXED_PORT" "* OK" ||
        problems+=("the second dovecot not answering on $BIND_ADDR:$IMAP_PREFIXED_PORT")
    port_greets "$SMTP_PORT" "220" || problems+=("exim not answering on $BIND_ADDR:$SMTP_PORT")
    if ((${#problems[@]} == 0)); then
        log "dovecot on $BIND_ADDR:$IMAP_PORT and exim on $BIND_ADDR:$SMTP_PORT answer" \
            "(checked as $(id -un); configs are only re-applied by a run as root)"
        exit 0
    fi
    printf '[mailservers] not root and no sudo -n, so nothing can be installed or started:\n' >&2
    printf '[mailservers]   - %s\n' "${problems[@]}" >&2
    printf '[mailservers] Run once: sudo bash %s  -- until then the mail tests fail with ' \
        "$0" >&2
    printf '"run deploy/ci/mailservers.sh first".\n' >&2
    exit "$EXIT_NEEDS_ROOT"
fi

# One run at a time (CI and a developer, or two test sessions, may race).
mkdir -p "$RUN_DIR"
exec 9>"$RUN_DIR/lock"
flock -w 300 9 || die "another mailservers.sh run holds $RUN_DIR/lock for >300 s"

# ---------------------------------------------------------------- packages
missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt-get)"
    apt_opts=(-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef
        -o Dpkg::Options::=--force-confold)
    apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null ||
        die "apt-get update failed"
    # Services must not be auto-started by the maintainer scripts (we run our own
    # instances); most images already have a policy-rc.d that says so.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    rc=0
    apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}" \
        >"${TMPDIR:-/tmp}/chronik-mailservers-apt.log" 2>&1 || rc=$?
    if ((made_policy)); then rm -f "$policy"; fi
    if ((rc)); then
        tail -n 30 "${TMPDIR:-/tmp}/chronik-mailservers-apt.log" >&2
        die "apt-get install ${missing[*]} failed (exit $rc); full log ${TMPDIR:-/tmp}/chronik-mailservers-apt.log"
    fi
    for pkg in "${PACKAGES[@]}"; do
        is_installed "$pkg" || die "$pkg still not installed after apt-get"
    done
fi
command -v dovecot >/dev/null || die "dovecot binary missing although dovecot-imapd is installed"
command -v exim4 >/dev/null || die "exim4 binary missing although exim4-daemon-light is installed"
getent passwd "$EXIM_USER" >/dev/null || die "user $EXIM_USER missing (exim4-base postinst failed?)"
getent passwd dovecot >/dev/null || die "user dovecot missing (dovecot-core postinst failed?)"
getent passwd dovenull >/dev/null || die "user dovenull missing (dovecot-core postinst failed?)"

# ---------------------------------------------------------------- users, dirs
if ! getent passwd "$VMAIL_USER" >/dev/null; then
    log "creating system user $VMAIL_USER"
    getent group "$VMAIL_USER" >/dev/null || groupadd --system "$VMAIL_USER"
    useradd --system --gid "$VMAIL_USER" --home-dir "$MAIL_ROOT" --no-create-home \
        --shell /usr/sbin/nologin --comment "Chronik test mail" "$VMAIL_USER"
fi
vmail_uid=$(id -u "$VMAIL_USER")
vmail_gid=$(id -g "$VMAIL_USER")

install -d -m 0755 -o "$VMAIL_USER" -g "$VMAIL_USER" "$MAIL_ROOT" "$SMTP_MAIL_ROOT"
install -d -m 0755 -o "$EXIM_USER" -g adm "$LOG_DIR"   # exim logs as its user; dovecot as root
install -d -m 0750 -o "$EXIM_USER" -g "$EXIM_USER" "$EXIM_SPOOL"
install -d -m 0755 "$DOVECOT_ETC" "$EXIM_ETC" "$RUN_DIR"

# ---------------------------------------------------------------- dovecot
dovecot_version=$(dovecot --version | awk '{print $1}')
case $dovecot_version in
2.3.* | 2.2.*)
    dovecot_auth_settings="disable_plaintext_auth = no"
    ;;
*)  # 2.4+ renamed it (and changed much else; bookworm ships 2.3)
    dovecot_auth_settings="auth_allow_cleartext = yes"
    ;;
esac

{
    for entry in "${IMAP_USERS[@]}"; do
        printf '%s:{PLAIN}%s\n' "${entry%%:*}" "${entry#*:}"
    done
} | install_file "$DOVECOT_USERS" 0640 root:dovecot

# One standalone dovecot instance: its config written, (re)started when it changed.
# The main one keeps every user's folders at the top ("Anträge", separator "/"); the
# second, like Courier or cPanel's dovecot, keeps them under "INBOX." (separator ".").
dovecot_instance() { # name conf base port mail_root prefix separator
    local name=$1 conf=$2 base=$3 port=$4 root=$5 prefix=$6 sep=$7 hash pidfile
    local short=${name#chronik-} # dovecot, dovecot-prefixed: log and state file names
    install -d -m 0755 -o "$VMAIL_USER" -g "$VMAIL_USER" "$root"
    install_file "$conf" 0644 root:root <<EOF
# Managed by deploy/ci/mailservers.sh -- edits are overwritten.
# Standalone Chronik test instance (dovecot $dovecot_version); /etc/dovecot is not read.
# Start: dovecot -c $conf     Inspect: doveconf -c $conf -n
instance_name = $name
base_dir = $base
protocols = imap
listen = $BIND_ADDR
ssl = no
$dovecot_auth_settings
auth_mechanisms = plain login

log_path = $LOG_DIR/$short.log
info_log_path = $LOG_DIR/$short.log
debug_log_path = $LOG_DIR/$short.log
log_timestamp = "%Y-%m-%d %H:%M:%S "
auth_verbose = yes

mail_location = maildir:$root/%n/Maildir
mail_uid = $VMAIL_USER
mail_gid = $VMAIL_USER
first_valid_uid = $vmail_uid
last_valid_uid = $vmail_uid
first_valid_gid = $vmail_gid
last_valid_gid = $vmail_gid

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $DOVECOT_USERS
}
userdb {
  driver = static
  args = uid=$VMAIL_USER gid=$VMAIL_USER home=$root/%n
}

namespace inbox {
  inbox = yes
  prefix = $prefix
  separator = $sep
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}

service imap-login {
  inet_listener imap {
    address = $BIND_ADDR
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}

protocol imap {
  # tests open several sessions (IDLE + commands) per user at once
  mail_max_userip_connections = 200
}
EOF

    doveconf -c "$conf" -n >/dev/null 2>"$RUN_DIR/$short-doveconf.err" ||
        die "dovecot config $conf is invalid: $(cat "$RUN_DIR/$short-doveconf.err")"

    hash=$(cat "$conf" "$DOVECOT_USERS" | sha256sum | cut -d' ' -f1)
    pidfile=$base/master.pid
    if pid_alive "$pidfile" && [[ $(cat "$RUN_DIR/$short.hash" 2>/dev/null) == "$hash" ]] &&
        port_greets "$port" "* OK"; then
        log "$name already running with current config on $BIND_ADDR:$port"
        return 0
    fi
    stop_pidfile "$name" "$pidfile"
    # A killed master may linger as a zombie that dovecot's own check mistakes
    # for a running instance ("already running"): drop the stale pid file.
    rm -f "$pidfile"
    if ! wait_port_free "$port"; then
        die "port $port is taken by another process ($(port_owner "$port")); stop it first"
    fi
    rm -f "$RUN_DIR/$short.hash"
    log "starting $name, dovecot $dovecot_version (log: $LOG_DIR/$short.log)"
    launch dovecot -c "$conf" </dev/null >>"$LOG_DIR/$short.log" 2>&1 ||
        die "$name failed to start; see $LOG_DIR/$short.log"
    wait_for_port "$name" "$port" "* OK" "$LOG_DIR/$short.log"
    printf '%s\n' "$hash" >"$RUN_DIR/$short.hash"
    log "$name up on $BIND_ADDR:$port"
}

dovecot_instance chronik-dovecot "$DOVECOT_CONF" "$DOVECOT_BASE" "$IMAP_PORT" "$MAIL_ROOT" "" /
dovecot_instance chronik-dovecot-prefixed "$DOVECOT_PREFIXED_CONF" "$DOVECOT_PREFIXED_BASE" \
    "$IMAP_PREFIXED_PORT" "$MAIL_ROOT/prefixed" INBOX. .

# ---------------------------------------------------------------- exim
# Local parts delivered by the relay (a regex; safe as a directory name).
install_file "$EXIM_LOCALPARTS" 0644 root:root <<'EOF'
^[a-z0-9][a-z0-9._+=-]*$
EOF

install_file "$EXIM_CONF" 0644 root:root <<EOF
# Managed by deploy/ci/mailservers.sh -- edits are overwritten.
# Standalone Chronik test relay; Debian's update-exim4.conf setup is not used.
# Start: exim4 -C $EXIM_CONF -bd -q1m -oP $EXIM_PID
# Accepts mail from loopback, without auth, for @$MAIL_DOMAIN only (others: 550)
# and delivers <localpart>@$MAIL_DOMAIN to $SMTP_MAIL_ROOT/<localpart>/Maildir
# (local part lowercased). Nothing is ever sent off this machine.

primary_hostname = mail.$MAIL_DOMAIN
qualify_domain = $MAIL_DOMAIN
domainlist local_domains = $MAIL_DOMAIN
hostlist relay_from_hosts = <; 127.0.0.0/8 ; ::1

local_interfaces = <; $BIND_ADDR
daemon_smtp_ports = $SMTP_PORT
exim_user = $EXIM_USER
exim_group = $EXIM_USER
never_users = root
spool_directory = $EXIM_SPOOL
log_file_path = $LOG_DIR/exim-%slog
log_selector = +smtp_connection +received_recipients +delivery_size -queue_run
keep_environment =
add_environment = <; PATH=/usr/bin:/bin
tls_advertise_hosts =
rfc1413_hosts =
host_lookup =
smtp_accept_max = 100
smtp_accept_queue_per_connection = 0
message_size_limit = 50M
ignore_bounce_errors_after = 0s
timeout_frozen_after = 1h

acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  deny    message = relay not permitted: only @$MAIL_DOMAIN is accepted here
          !domains = +local_domains
  deny    message = invalid local part
          local_parts = ^[.] : ^.*[@%!/|]
  # unknown/unsafe local parts fail routing -> 550 here, never a silent drop
  require verify = recipient
  accept  hosts = +relay_from_hosts
          domains = +local_domains
  deny    message = relay not permitted

begin routers

chronik_maildir:
  driver = accept
  domains = +local_domains
  # The lookup returns the (lowercased) local part itself, untainted, so it may
  # be used in the Maildir path (exim >= 4.94 refuses tainted file names).
  local_parts = nwildlsearch,ret=key;$EXIM_LOCALPARTS
  transport = chronik_maildir

# Other domains (only bounces to outside senders get here) are dropped:
# nothing ever leaves this machine.
discard_other:
  driver = redirect
  domains = ! +local_domains
  data = :blackhole:

begin transports

chronik_maildir:
  driver = appendfile
  directory = $SMTP_MAIL_ROOT/\${local_part_data}/Maildir
  maildir_format
  create_directory
  directory_mode = 0755
  mode = 0644
  user = $VMAIL_USER
  group = $VMAIL_USER
  delivery_date_add
  envelope_to_add
  return_path_add

begin retry
*   *   F,1h,1m

begin rewrite

begin authenticators
EOF

# Debian's exim keeps root privilege for -C only if the file is listed here.
touch "$EXIM_TRUSTED_LIST"
chmod 0644 "$EXIM_TRUSTED_LIST"
grep -qxF "$EXIM_CONF" "$EXIM_TRUSTED_LIST" || {
    printf '%s\n' "$EXIM_CONF" >>"$EXIM_TRUSTED_LIST"
    log "added $EXIM_CONF to $EXIM_TRUSTED_LIST"
}

exim4 -C "$EXIM_CONF" -bV >"$RUN_DIR/exim-bV.out" 2>&1 ||
    die "exim config $EXIM_CONF is invalid: $(tail -n 5 "$RUN_DIR/exim-bV.out")"

exim_hash=$(cat "$EXIM_CONF" "$EXIM_LOCALPARTS" | sha256sum | cut -d' ' -f1)
if pid_alive "$EXIM_PID" && [[ $(cat "$RUN_DIR/exim.hash" 2>/dev/null) == "$exim_hash" ]] &&
    port_greets "$SMTP_PORT" "220"; then
    log "exim already running with current config on $BIND_ADDR:$SMTP_PORT"
else
    stop_pidfile exim "$EXIM_PID"
    rm -f "$EXIM_PID"
    if ! wait_port_free "$SMTP_PORT"; then
        die "port $SMTP_PORT is taken by another process ($(port_owner "$SMTP_PORT")); stop it first"
    fi
    rm -f "$RUN_DIR/exim.hash"
    log "starting exim4 $(exim4 -C "$EXIM_CONF" -bV 2>/dev/null | awk 'NR==1{print $3}') (logs: $LOG_DIR/exim-*log)"
    launch exim4 -C "$EXIM_CONF" -bd -q1m -oP "$EXIM_PID" </dev/null >>"$LOG_DIR/exim-stderr.log" 2>&1 ||
        die "exim4 failed to start; see $LOG_DIR/exim-paniclog and $LOG_DIR/exim-mainlog"
    wait_for_port exim "$SMTP_PORT" "220" "$LOG_DIR/exim-mainlog"
    printf '%s\n' "$exim_hash" >"$RUN_DIR/exim.hash"
    log "exim up on $BIND_ADDR:$SMTP_PORT"
fi

log "ready: IMAP $BIND_ADDR:$IMAP_PORT and $BIND_ADDR:$IMAP_PREFIXED_PORT (folders under INBOX.)" \
    "(chronik/chronik-test, chronik2/chronik-test2)," \
    "SMTP $BIND_ADDR:$SMTP_PORT -> $SMTP_MAIL_ROOT/<localpart>/Maildir for @$MAIL_DOMAIN"
