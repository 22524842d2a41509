"""What runs on the router: fixed POSIX sh (busybox ash) scripts and paths.

Nothing here is built from inventory values: scripts are constants, file
names are the renderer's own (etc/config/<package>), generations are ints.
The rendered bytes travel as stdin (a tar stream), never on a command line.

The rollback watchdog survives a power cut: the pending marker and the backup
live on flash (/etc/meshkeeper), a boot hook (/etc/rc.d/S11meshkeeper-rollback)
restores the backup when the marker is still there at boot, and a detached
timer restores it (and reloads) when the controller does not confirm in time.
OpenWISP's and LuCI's snapshots live on tmpfs and are lost by the reboot that
needed them (../shared/FIELD-NOTES.md).

Secrets stay protected at rest: the backups hold wireless keys and the
agent's password hash, so everything these scripts create in /etc/meshkeeper
and the staging directory in /tmp is made under umask 077 (/etc/meshkeeper
and its backup directory 0700, backups 0600, applied.json 0600, and
applied.json names files written 0600 without their sha256, which would
confirm a guessed passphrase offline). Rendered files keep the modes the
renderer gave them (tar and `cp -p` as root carry modes, not the umask). The
umask is set only where files are made, never around the reloads: a service
reloaded from here must not inherit it.
"""

from __future__ import annotations

META = "/etc/meshkeeper"
APPLIED = f"{META}/applied.json"
BACKUPS = f"{META}/backup"
PENDING = f"{META}/pending"
ROLLBACK = f"{META}/rollback.sh"
INIT_SCRIPT = "/etc/init.d/meshkeeper-rollback"
BOOT_LINK = "/etc/rc.d/S11meshkeeper-rollback"
STAGE = "/tmp/meshkeeper-stage"
TIMER_PID = "/tmp/meshkeeper-rollback.pid"
APPLY = f"{META}/apply.sh"
APPLY_LOG = "/tmp/meshkeeper-apply.log"
APPLY_STATE = "/tmp/meshkeeper-apply.state"  # "applying G", then "settled G" or "failed G: ..."
ROLLBACKS = f"{META}/rollbacks.log"  # on flash: the boot hook runs before logd (S11 < S12)
AGENT_INIT = "/etc/init.d/meshkeeper-agent"
KEEP_BACKUPS = 3
FETCH_LIMIT = 1024 * 1024  # bytes: a larger file on the router is not fetched for `diff`
APPLIED_LIMIT = 64 * 1024  # bytes: a larger applied.json is no record of ours
BABEL_PORT_HEX = "8163"  # babeld's local port 33123 (controller/render/context.py)

ROLLBACK_SH = r"""#!/bin/sh
# meshkeeper's rollback watchdog, installed by `meshkeeper push`. Do not edit.
#   rollback.sh boot                  at power-on: restore if a push was never confirmed
#   rollback.sh timer SECONDS BACKUP  restore and reload if still pending after SECONDS
#   rollback.sh now BACKUP            restore and reload at once (the apply failed)
#   rollback.sh confirm               the controller saw the new config work
M=/etc/meshkeeper
PIDS=/tmp/meshkeeper-rollback.pid
record() {
    # On flash, read by the controller: at boot this runs before logd (S11 < S12),
    # so a message to logread would be lost. umask in a subshell: the reload after
    # this must not hand it to the services it restarts.
    (
        umask 077
        echo "$(date +%s) $1 $2" >> "$M/rollbacks.log"
        tail -n 20 "$M/rollbacks.log" > "$M/rollbacks.log.tmp" && mv "$M/rollbacks.log.tmp" "$M/rollbacks.log"
    )
    logger -t meshkeeper "rolled back to $2 ($1)" 2>/dev/null
}
restore() {
    [ -f "$M/pending" ] || return 1
    b=$(cat "$M/pending")
    case "$b" in gen-[0-9]*.tar) ;; *) logger -t meshkeeper "bad pending marker"; return 1 ;; esac
    [ -f "$M/backup/$b" ] || { logger -t meshkeeper "backup $b missing"; return 1; }
    if [ -f "$M/backup/$b.new" ]; then
        while read -r f; do
            case "$f" in etc/config/*|etc/dropbear/authorized_keys|etc/meshkeeper/*) rm -f "/$f" ;; esac
        done < "$M/backup/$b.new"
    fi
    tar -x -f "$M/backup/$b" -C / || return 1
    rm -f "$M/pending"
    sync
    record "$1" "$b"
    sync
}
reload_all() {
    reload_config
    /etc/init.d/network reload
    /etc/init.d/firewall reload 2>/dev/null
    wifi reload 2>/dev/null
    [ -x /etc/init.d/meshkeeper-agent ] && /etc/init.d/meshkeeper-agent reload
}
pending_is() {
    [ -f "$M/pending" ] && [ "$(cat "$M/pending")" = "$1" ]
}
stop_timer() {
    # the timer's shell and its sleep: a sleep left behind would hold nothing, but
    # would still be a process nobody owns
    [ -f "$PIDS" ] && for p in $(cat "$PIDS"); do kill "$p" 2>/dev/null; done
    rm -f "$PIDS"
}
case "$1" in
    boot)
        restore boot
        ;;
    timer)
        sleep "$2" &
        echo "$$ $!" > "$PIDS"
        wait $!
        if pending_is "$3"; then
            restore timer && reload_all
        fi
        rm -f "$PIDS"
        ;;
    now)
        if pending_is "$2"; then
            stop_timer
            restore failed-apply && reload_all
        fi
        ;;
    confirm)
        rm -f "$M/pending"
        sync
        stop_timer
        ;;
esac
exit 0
"""

APPLY_SH = r"""#!/bin/sh
# meshkeeper's apply, installed by `meshkeeper push`. Do not edit.
#   apply.sh GENERATION STEP...      STEP: config, network, wifi, agent
# Runs detached from the SSH session that started it. reload_config only signals
# procd, which runs the reload triggers PROCD_RELOAD_DELAY (1000 ms) later, and each
# service restarts in its own time: a login right after reload_config proves nothing
# (the old dropbear may still serve, and die a second later). So this waits until
# the services are steady, checks that something listens for SSH where the
# controller will come back, and writes the outcome for the controller to read
# over a new connection: "settled GEN", or "failed GEN: STEPS" (details in the log).
PATH="$PATH:/usr/sbin:/usr/bin:/sbin:/bin"
LOG=/tmp/meshkeeper-apply.log
STATE=/tmp/meshkeeper-apply.state
LISTEN=/tmp/meshkeeper-stage/meshkeeper/listen
gen=$1
shift
failed=""
say() { echo "$*" >> "$LOG"; }
step() {
    name=$1
    shift
    "$@" >> "$LOG" 2>&1
    rc=$?
    say "step $name exit $rc"
    [ "$rc" -eq 0 ] || failed="$failed $name"
}
services() {
    ubus call service list 2>/dev/null | grep -E '"(pid|running)":' | tr -d ' \t\n'
}
busy() {
    # A reload procd is running: an init script (`/bin/sh /etc/rc.common ...`) run by a
    # trigger from procd's queue, or a hotplug handler; in the practice lab, its
    # stand-in for that queue. Between queued triggers nothing shows, for up to
    # PROCD_RELOAD_DELAY: hence the quiet polls below. (The bracket keeps grep from
    # matching its own command line; only processes of this router's network count.)
    me=$(readlink /proc/self/ns/net)
    for f in $(grep -l -s -e '/etc/rc[.]common' -e 'hotplug-cal[l]' -e 'meshkeeper-lab-shi[m]' \
            /proc/[0-9]*/cmdline); do
        d=${f%/cmdline}
        [ "$d" = "/proc/$$" ] && continue
        [ "$(readlink "$d/ns/net" 2>/dev/null)" = "$me" ] && return 0
    done
    return 1
}
settle() {
    # three quiet polls a second apart span 2 s: longer than procd holds a queued
    # trigger (PROCD_RELOAD_DELAY, 1 s), so none can still be waiting when we stop
    sleep 1
    before=""
    quiet=0
    i=0
    while [ "$i" -lt 40 ]; do
        now=$(services)
        if [ -n "$now" ] && [ "$now" = "$before" ] && ! busy &&
            ! ubus call network.interface dump 2>/dev/null | grep -q '"pending": true'; then
            quiet=$((quiet + 1))
            if [ "$quiet" -ge 3 ]; then
                say "services steady, no reload running"
                return 0
            fi
        else
            quiet=0
        fi
        before=$now
        i=$((i + 1))
        sleep 1
    done
    say "services still restarting (or no ubus) after 40 s"
    return 1
}
listening() {
    read -r le be port < "$LISTEN" || return 1
    case "$le$be$port" in *[!0-9A-F]*) return 1 ;; esac
    i=0
    while [ "$i" -lt 10 ]; do
        cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v le="$le" -v be="$be" -v p="$port" '
            $4 == "0A" { split($2, a, ":"); if (a[2] == p && (a[1] == le || a[1] == be || a[1] ~ /^0+$/)) f = 1 }
            END { exit !f }' && return 0
        i=$((i + 1))
        sleep 1
    done
    say "nothing listens for SSH on the management address"
    return 1
}
: > "$LOG"
echo "applying $gen" > "$STATE"
sleep 1
for s in "$@"; do
    case "$s" in
        config) step reload_config reload_config ;;
        network)
            step network /etc/init.d/network reload
            step firewall /etc/init.d/firewall reload
            ;;
        wifi) step wifi wifi reload ;;
        agent) [ -x /etc/init.d/meshkeeper-agent ] && step agent /etc/init.d/meshkeeper-agent reload ;;
    esac
done
settle || failed="$failed settle"
listening || failed="$failed ssh-listener"
if [ -z "$failed" ]; then
    echo "settled $gen" > "$STATE.tmp"
else
    echo "failed $gen:$failed" > "$STATE.tmp"
fi
mv "$STATE.tmp" "$STATE"
exit 0
"""

INIT_SH = """#!/bin/sh /etc/rc.common
# meshkeeper: restore the last good config if a push was never confirmed.
START=11
boot() {
    [ -x /etc/meshkeeper/rollback.sh ] && /etc/meshkeeper/rollback.sh boot
}
start() {
    return 0
}
"""


# Babel neighbours through babeld's read-only local socket on [::1]:33123. busybox nc
# reaches ::1; GNU netcat 0.7 (OpenWrt's `netcat` package, which then owns `nc`)
# cannot resolve it (FIELD-NOTES), so `busybox nc` is tried first and the answer must
# carry babeld's banner: "none" when nothing listens there (babeld does not run),
# "unknown" when something does but no nc could read it: never a silent 0.
NEIGHBOURS = (
    'if cat /proc/net/tcp6 2>/dev/null | awk \'$4 == "0A" {split($2, a, ":");'
    f' if (a[2] == "{BABEL_PORT_HEX}") f = 1}} END {{exit !f}}\'; then'
    " for nc in 'busybox nc' nc; do"
    " out=$(printf 'dump\\nquit\\n' | $nc ::1 33123 2>/dev/null);"
    ' case "$out" in BABEL*) echo "$out" | grep -c \'^add neighbour\'; break ;; esac;'
    " out=''; done; [ -n \"$out\" ] || echo unknown;"
    " else echo none; fi"
)
PACKAGES = (
    "if [ -f /usr/lib/opkg/status ]; then sed -n 's/^Package: //p' /usr/lib/opkg/status;"
    " elif [ -f /lib/apk/db/installed ]; then sed -n 's/^P://p' /lib/apk/db/installed;"
    " else echo '?no-package-database'; fi"
)


def inspect(paths: list[str], *, packages: bool = False) -> str:
    """Read what the router holds: applied state, pending marker, babel neighbours, the
    outcome of the last apply, rollbacks it did by itself, the sha256 of the files
    meshkeeper manages (so hand edits are seen), and optionally installed packages."""
    return (
        f"[ -f {APPLIED} ] && [ $(wc -c < {APPLIED}) -le {APPLIED_LIMIT} ] && cat {APPLIED};"
        f" echo; echo '--pending--'; cat {PENDING} 2>/dev/null; echo;"
        f" echo '--neighbours--'; {NEIGHBOURS};"
        f" echo '--apply--'; cat {APPLY_STATE} 2>/dev/null;"
        f" echo '--rollbacks--'; tail -n 5 {ROLLBACKS} 2>/dev/null;"
        f" echo '--packages--'; {PACKAGES if packages else 'true'};"
        f" echo '--sums--'; cd / && sha256sum {' '.join(paths)} 2>/dev/null; true"
    )


def fetch(paths: list[str]) -> str:
    """A tar stream of the managed files that exist on the router, each at most
    FETCH_LIMIT bytes (a larger one is left out: `diff` says it was not compared)."""
    return (
        f"cd / && tar -c -f - $(for f in {' '.join(paths)}; do"
        f' [ -f "$f" ] && [ $(wc -c < "$f") -le {FETCH_LIMIT} ] && echo "$f"; done)'
    )


# The staging directory holds the new secrets until the install: made 0700 under
# umask 077, as are /etc/meshkeeper and its backups (from before they were).
PREPARE = (
    f"umask 077; rm -rf {STAGE} && mkdir -p {STAGE} {BACKUPS} && "
    f"chmod 700 {STAGE} {META} {BACKUPS} && tar -x -C {STAGE}"
)
CHECKSUMS = f"cd {STAGE} && find . -type f | sort | xargs sha256sum"


def install_tools(backup: str) -> str:
    """Install the watchdog, the boot hook; back up the current files to flash.

    The backup holds every managed file that exists now; `backup.new` lists
    the files the push adds, so a rollback removes them again.
    """
    return (
        f"set -e; umask 077; cd /; "
        f"chmod 700 {META} {BACKUPS}; chmod -R go-rwx {BACKUPS}; "
        f"cp {STAGE}/meshkeeper/rollback.sh {ROLLBACK}.new && chmod 755 {ROLLBACK}.new && "
        f"mv {ROLLBACK}.new {ROLLBACK}; "
        f"cp {STAGE}/meshkeeper/apply.sh {APPLY}.new && chmod 755 {APPLY}.new && "
        f"mv {APPLY}.new {APPLY}; "
        f"cp {STAGE}/meshkeeper/init.sh {INIT_SCRIPT} && chmod 755 {INIT_SCRIPT}; "
        f"mkdir -p /etc/rc.d; ln -sf ../init.d/meshkeeper-rollback {BOOT_LINK}; "
        f": > {BACKUPS}/{backup}.new; list=''; "
        f"for f in $(cat {STAGE}/meshkeeper/managed); do "
        f'if [ -e "/$f" ]; then list="$list $f"; else echo "$f" >> {BACKUPS}/{backup}.new; fi; '
        f"done; "
        f"tar -c -f {BACKUPS}/{backup}.tmp $list && mv {BACKUPS}/{backup}.tmp {BACKUPS}/{backup}; "
        f"ls -1t {BACKUPS}/gen-*.tar | tail -n +{KEEP_BACKUPS + 1} | "
        f'while read -r old; do rm -f "$old" "$old.new"; done; sync'
    )


def arm(backup: str, seconds: int) -> str:
    """Mark the push pending on flash and start the detached rollback timer."""
    return (
        f"( umask 077 && echo {backup} > {PENDING}.tmp ) && mv {PENDING}.tmp {PENDING} && sync && "
        f"( trap '' HUP; {ROLLBACK} timer {int(seconds)} {backup} </dev/null >/dev/null 2>&1 & )"
    )


INSTALL = (
    "set -e; umask 077; cd /; "
    f"for f in $(cat {STAGE}/meshkeeper/files); do "
    f'cp -p "{STAGE}/$f" "/$f.mk-new" && mv "/$f.mk-new" "/$f"; done; '
    f'for f in $(cat {STAGE}/meshkeeper/remove); do rm -f "/$f"; done; '
    f"cp {STAGE}/meshkeeper/applied.json {APPLIED}.new && chmod 600 {APPLIED}.new && "
    f"mv {APPLIED}.new {APPLIED}; sync"
)


def apply(generation: int, packages: list[str], *, agent: bool = False) -> str:
    """Start apply.sh detached from the SSH session (the network may move under it).

    agent.json is no UCI package, so reload_config does not see it: the agent's
    init script is reloaded (procd restarts it when the file changed)."""
    steps = ["config"]
    if {"network", "firewall"} & set(packages):
        steps.append("network")
    if "wireless" in packages:
        steps.append("wifi")
    if agent:
        steps.append("agent")
    return (
        f"rm -f {APPLY_STATE}; ( trap '' HUP; {APPLY} {int(generation)} {' '.join(steps)}"
        " </dev/null >/dev/null 2>&1 & )"
    )


# What the controller reads after the apply: the outcome line, then the log.
APPLY_OUTCOME = (
    f"cat {APPLY_STATE} 2>/dev/null; echo '--pending--'; cat {PENDING} 2>/dev/null;"
    f" echo '--log--'; tail -n 30 {APPLY_LOG} 2>/dev/null"
)


def rollback_now(backup: str) -> str:
    """The apply failed and the router is still reachable: restore now, not at the timer."""
    return f"( trap '' HUP; {ROLLBACK} now {backup} </dev/null >/dev/null 2>&1 & )"


CONFIRM = f"{ROLLBACK} confirm && rm -rf {STAGE}"
