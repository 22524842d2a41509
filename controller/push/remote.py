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
AGENT_INIT = "/etc/init.d/meshkeeper-agent"
KEEP_BACKUPS = 3

ROLLBACK_SH = r"""#!/bin/sh
# meshkeeper's rollback watchdog, installed by `meshkeeper push`. Do not edit.
#   rollback.sh boot                  at power-on: restore if a push was never confirmed
#   rollback.sh timer SECONDS BACKUP  restore and reload if still pending after SECONDS
#   rollback.sh confirm               the controller saw the new config work
M=/etc/meshkeeper
restore() {
    [ -f "$M/pending" ] || return 0
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
    logger -t meshkeeper "rolled back to $b"
}
case "$1" in
    boot)
        restore
        ;;
    timer)
        echo $$ > /tmp/meshkeeper-rollback.pid
        sleep "$2"
        if [ -f "$M/pending" ] && [ "$(cat "$M/pending")" = "$3" ]; then
            restore && {
                reload_config
                /etc/init.d/network reload
                /etc/init.d/firewall reload 2>/dev/null
                wifi reload 2>/dev/null
                [ -x /etc/init.d/meshkeeper-agent ] && /etc/init.d/meshkeeper-agent reload
            }
        fi
        rm -f /tmp/meshkeeper-rollback.pid
        ;;
    confirm)
        rm -f "$M/pending"
        sync
        [ -f /tmp/meshkeeper-rollback.pid ] && kill "$(cat /tmp/meshkeeper-rollback.pid)" 2>/dev/null
        rm -f /tmp/meshkeeper-rollback.pid
        ;;
esac
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


def inspect(paths: list[str]) -> str:
    """Read what the router holds: applied state, pending marker, babel neighbours and
    the sha256 of the files meshkeeper manages (so hand edits are seen)."""
    return (
        f"cat {APPLIED} 2>/dev/null; echo; echo '--pending--'; cat {PENDING} 2>/dev/null; echo;"
        " echo '--neighbours--';"
        " printf 'dump\\nquit\\n' | nc ::1 33123 2>/dev/null | grep -c 'add neighbour';"
        f" echo '--sums--'; cd / && sha256sum {' '.join(paths)} 2>/dev/null; true"
    )


def fetch(paths: list[str]) -> str:
    """A tar stream of the managed files that exist on the router."""
    return f'cd / && tar -c -f - $(for f in {" ".join(paths)}; do [ -f "$f" ] && echo "$f"; done)'


PREPARE = f"rm -rf {STAGE} && mkdir -p {STAGE} {BACKUPS} && tar -x -C {STAGE}"
CHECKSUMS = f"cd {STAGE} && find . -type f | sort | xargs sha256sum"


def install_tools(backup: str) -> str:
    """Install the watchdog, the boot hook; back up the current files to flash.

    The backup holds every managed file that exists now; `backup.new` lists
    the files the push adds, so a rollback removes them again.
    """
    return (
        f"set -e; cd /; "
        f"cp {STAGE}/meshkeeper/rollback.sh {ROLLBACK}.new && chmod 755 {ROLLBACK}.new && "
        f"mv {ROLLBACK}.new {ROLLBACK}; "
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
        f"echo {backup} > {PENDING}.tmp && mv {PENDING}.tmp {PENDING} && sync && "
        f"( trap '' HUP; {ROLLBACK} timer {int(seconds)} {backup} </dev/null >/dev/null 2>&1 & )"
    )


INSTALL = (
    "set -e; cd /; "
    f"for f in $(cat {STAGE}/meshkeeper/files); do "
    f'cp -p "{STAGE}/$f" "/$f.mk-new" && mv "/$f.mk-new" "/$f"; done; '
    f'for f in $(cat {STAGE}/meshkeeper/remove); do rm -f "/$f"; done; '
    f"cp {STAGE}/meshkeeper/applied.json {APPLIED}.new && mv {APPLIED}.new {APPLIED}; sync"
)


AGENT_RELOAD = f"[ -x {AGENT_INIT} ] && {AGENT_INIT} reload"


def apply(packages: list[str], *, agent: bool = False) -> str:
    """Reload what changed, detached from the SSH session (the network may move under it).

    agent.json is no UCI package, so reload_config does not see it: the agent's
    init script is reloaded (procd restarts it when the file changed)."""
    steps = ["reload_config"]
    if {"network", "firewall"} & set(packages):
        steps += ["/etc/init.d/network reload", "/etc/init.d/firewall reload"]
    if "wireless" in packages:
        steps.append("wifi reload")
    if agent:
        steps.append(AGENT_RELOAD)
    script = "; ".join(f"{step} >>/tmp/meshkeeper-apply.log 2>&1" for step in steps)
    return f"( trap '' HUP; {{ sleep 1; {script}; }} </dev/null >/dev/null 2>&1 & )"


CONFIRM = f"{ROLLBACK} confirm && rm -rf {STAGE}"
