"""One emulated router: its own /etc and /tmp, an SSH server, and a power switch.

A router is a network namespace (mkn-NODE) plus a persistent mount namespace
(its nsfs handle in /run/meshkeeper-lab/mnt/NODE) in which:

    /etc            an overlay: the host's /etc below, the router's own files above
                    (/etc/config, /etc/dropbear, /etc/meshkeeper, /etc/init.d shims)
    /tmp            the router's RAM disk (wiped by a power cut)
    /usr/local/sbin the apply shim's commands: reload_config, ubus, wifi, reboot
    reboot, halt,   bound to the shim's reboot: nothing inside a router can
    poweroff, ...   reach the host's power switch

Its SSH server is Debian's OpenSSH with its own host key, key-only login,
authorized keys read from /etc/dropbear/authorized_keys and no SFTP
subsystem, like stock OpenWrt's dropbear. Where it listens comes from
/etc/config/dropbear, one sshd per dropbear instance, restarted by procd's
reload trigger as on OpenWrt (lab/shim/dropbear.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from lab.host import (
    MOUNT_DIR,
    PROJECT_ROOT,
    ROUTER_SRC,
    ROUTER_VENV,
    ROUTER_VIEW,
    RUN_DIR,
    LabError,
    mount_handle,
    nsenter,
    pids_in,
    router_python,
    run,
)
from lab.paths import LabPaths, NodePaths
from lab.plan import LabNode
from lab.shim.labinfo import LabInfo

NC_SCRIPT = """import socket, sys, threading
host, port = sys.argv[-2], int(sys.argv[-1])
s = socket.create_connection((host, port), timeout=10)
def pump():
    for chunk in iter(lambda: sys.stdin.buffer.read1(4096), b""):
        s.sendall(chunk)
threading.Thread(target=pump, daemon=True).start()
for chunk in iter(lambda: s.recv(4096), b""):
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
"""
RC_COMMON = """#!/bin/sh
# The practice lab's stand-in for OpenWrt's /etc/rc.common: run one action of an
# init script (`/etc/init.d/X boot` runs X's boot(), as on OpenWrt).
initscript=$1
action=${2:-help}
[ $# -ge 2 ] && shift 2
start() { return 0; }
stop() { return 0; }
boot() { start "$@"; }
. "$initscript"
$action "$@"
"""
# The router's RAM disk: small like a real router's, so "/tmp is full" can happen.
TMPFS_SIZE = "32m"
TMPFS = ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=1777", "tmpfs", "/tmp"]
POWER_COMMANDS = ("reboot", "halt", "poweroff", "shutdown")
SHIM = "meshkeeper-lab-shim"
INIT_SCRIPTS = ("network", "firewall", "babeld", "dropbear", "meshkeeper-agent")
AGENT = "meshkeeper-agent"
# The lab has no radios and no batman-adv module: those collectors would only
# report failure. Everything else runs as on a router, but probes every 5 s, not
# the inventory's minute: a fault shows in the verdict within 15 s (K = 3 rounds);
# and collects every 5 s, not the inventory's 15: a cut link shows within seconds.
PROBE_INTERVAL = 5
COLLECT_INTERVAL = 5
AGENT_ARGV = (
    f"/usr/local/sbin/{AGENT}",
    "run",
    "--config",
    "/etc/meshkeeper/agent.json",
    "--disable",
    "wireless",
    "--disable",
    "batman_adv",
    "--probe-interval",
    str(PROBE_INTERVAL),
    "--collect-interval",
    str(COLLECT_INTERVAL),
)


def write_bin(paths: LabPaths) -> None:
    """The shim's commands, bound over /usr/local/sbin in every router."""
    paths.bin.mkdir(parents=True, exist_ok=True)
    scripts = {
        SHIM: f"#!{router_python()[-1]}\nimport sys\nsys.path.insert(0, {str(ROUTER_SRC)!r})\n"
        "from lab.shim.__main__ import main\n"
        "sys.exit(main(sys.argv[1:]))\n",
        # the agent, as its console script (its process name is meshkeeper-agent)
        AGENT: f"#!{router_python()[-1]}\nimport sys\nsys.path.insert(0, {str(ROUTER_SRC)!r})\n"
        "from agent.cli import main\n"
        "sys.exit(main())\n",
        "reload_config": f'#!/bin/sh\nexec /usr/local/sbin/{SHIM} reload_config "$@"\n',
        "ubus": f'#!/bin/sh\nexec /usr/local/sbin/{SHIM} ubus "$@"\n',
        "wifi": f'#!/bin/sh\nexec /usr/local/sbin/{SHIM} wifi "$@"\n',
        "reboot": f"#!/bin/sh\nexec /usr/local/sbin/{SHIM} reboot\n",
        # busybox's `nc HOST PORT`, as OpenWrt has it (Debian's netcat is not installed)
        "nc": f"#!{router_python()[-1]}\n{NC_SCRIPT}",
    }
    for name, text in scripts.items():
        target = paths.bin / name
        target.write_text(text, encoding="utf-8")
        target.chmod(0o755)


def prepare_files(
    paths: NodePaths,
    files: dict[str, bytes],
    modes: dict[str, int],
    info: LabInfo,
    sshd_config: str,
    *,
    legacy_rsa: bool = False,
) -> None:
    """The router's flash before first boot: rendered config, shims, lab info, host key."""
    for folder in (paths.upper, paths.work, paths.log):
        folder.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = paths.upper / rel.removeprefix("etc/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(modes[rel])
    (paths.upper / "dropbear").chmod(0o700)
    init_d = paths.upper / "init.d"
    init_d.mkdir(exist_ok=True)
    for service in INIT_SCRIPTS:
        script = init_d / service
        script.write_text(
            f'#!/bin/sh\nexec /usr/local/sbin/{SHIM} service {service} "$@"\n', encoding="utf-8"
        )
        script.chmod(0o755)
    (paths.upper / "rc.d").mkdir(exist_ok=True)
    rc_common = paths.upper / "rc.common"  # init scripts start `#!/bin/sh /etc/rc.common`
    rc_common.write_text(RC_COMMON, encoding="utf-8")
    rc_common.chmod(0o755)
    (paths.upper / "meshkeeper-lab.json").write_text(info.to_json(), encoding="utf-8")
    key = paths.host_key_for(legacy_rsa)
    if not key.exists():
        kind = ["-t", "rsa", "-b", "2048"] if legacy_rsa else ["-t", "ed25519"]
        run(["ssh-keygen", "-q", *kind, "-N", "", "-C", "lab-router", "-f", str(key)])
    paths.sshd_config.write_text(sshd_config, encoding="utf-8")


def sshd_config(paths: NodePaths, lab: LabPaths, *, legacy_rsa: bool = False) -> str:
    # OpenWrt 19.07's dropbear 2019.78 offers only ssh-rsa (SHA-1) host keys and accepts
    # only ssh-rsa user signatures (no ed25519): a legacy router is served like that.
    legacy = ["HostKeyAlgorithms ssh-rsa", "PubkeyAcceptedAlgorithms ssh-rsa"] if legacy_rsa else []
    return "\n".join(
        [
            "# A lab router's SSH server: key-only, no SFTP (stock OpenWrt has none).",
            "# ListenAddress and PidFile come per dropbear instance on sshd's command",
            "# line (lab/shim/dropbear_conf.py sshd_options); the first value given wins.",
            f"HostKey {lab.inside(paths.host_key_for(legacy_rsa))}",
            *legacy,
            "PidFile /tmp/sshd.pid",  # never the host's /run/sshd.pid
            "AuthorizedKeysFile /etc/dropbear/authorized_keys",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PrintMotd no",
            "UseDNS no",
            "ClientAliveInterval 5",
            "ClientAliveCountMax 3",
            "MaxStartups 64:30:128",
            "",
        ]
    )


def sshd_argv(paths: NodePaths, lab: LabPaths) -> tuple[str, ...]:
    return (
        "/usr/sbin/sshd",
        "-f",
        str(lab.inside(paths.sshd_config)),
        "-E",
        str(lab.inside(paths.log / "sshd.log")),
    )


def ensure_run_dir() -> None:
    """A private mount for the nsfs handles (unshare --mount=FILE requires it)."""
    MOUNT_DIR.mkdir(parents=True, exist_ok=True)
    for mountpoint in (ROUTER_VIEW, ROUTER_SRC, ROUTER_VENV):
        mountpoint.mkdir(exist_ok=True)
    if run(["mountpoint", "-q", str(RUN_DIR)], check=False).returncode != 0:
        run(["mount", "--bind", str(RUN_DIR), str(RUN_DIR)])
        run(["mount", "--make-private", str(RUN_DIR)])
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # OpenSSH's privilege separation


def make_mount_namespace(node: LabNode, paths: NodePaths, lab: LabPaths) -> None:
    handle = mount_handle(node.name)
    handle.touch()
    run(["unshare", f"--mount={handle}", "--propagation", "private", "true"])
    mounts = [
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir=/etc,upperdir={paths.upper},workdir={paths.work}",
            "/etc",
        ],
        ["mount", "--bind", str(lab.root), str(ROUTER_VIEW)],
        ["mount", "--bind", str(PROJECT_ROOT), str(ROUTER_SRC)],
        *(
            [["mount", "--bind", sys.prefix, str(ROUTER_VENV)]]
            if sys.prefix != sys.base_prefix
            else []
        ),
        ["mount", "--bind", str(lab.bin), "/usr/local/sbin"],
    ]
    for command in POWER_COMMANDS:
        for folder in ("/usr/sbin", "/sbin"):
            target = Path(folder) / command
            if target.exists() and not Path(folder).is_symlink():
                mounts.append(["mount", "--bind", str(lab.bin / "reboot"), str(target)])
    mounts.append(TMPFS)  # last: it may hide the lab's own directory
    for argv in mounts:
        run(["nsenter", f"--mount={handle}", "--", *argv])
    check = run(["nsenter", f"--mount={handle}", "--", "cat", "/usr/local/sbin/reboot"])
    if SHIM not in check.stdout:  # never let a router reach the host's reboot
        raise LabError(f"{node.name}: the router's /usr/local/sbin is not the lab's")


def in_router(node: LabNode, argv: list[str]) -> list[str]:
    return nsenter(node.namespace, mount_handle(node.name), argv)


def boot(node: LabNode) -> None:
    result = run(
        in_router(node, [*router_python(), "-m", "lab.shim", "boot"]), check=False, timeout=60
    )
    if result.returncode != 0:
        raise LabError(f"{node.name}: boot failed: {result.stderr.strip()[-500:]}")


def power_off(node: LabNode, paths: NodePaths) -> None:
    """A power cut: every process of the router dies, its RAM disk is lost."""
    del paths  # flash (the overlay's upper directory) survives, as on a router
    kill_namespace(node.namespace)
    handle = mount_handle(node.name)
    run(["nsenter", f"--mount={handle}", "--", "umount", "-l", "/tmp"], check=False)
    run(["nsenter", f"--mount={handle}", "--", *TMPFS])


def kill_namespace(netns: str) -> None:
    kill_namespaces([netns])


def kill_namespaces(names: list[str]) -> None:
    """Stop every process in these namespaces and return only once they are gone.

    A process leaves its network namespace early in its exit (or by setns/unshare),
    so an empty `ip netns pids` is not enough: each process seen is followed by pid
    and start time until it no longer exists (a zombie holds nothing), else a
    following `lab up` could meet its sockets and files.
    """
    seen: dict[int, str] = {}
    for sig, patience in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        for netns in names:
            for pid in pids_in(netns):
                seen.setdefault(pid, _start_time(pid))
        for pid in _alive(seen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if not _alive(seen) and not any(pids_in(netns) for netns in names):
                return
            time.sleep(0.05)
    left = _alive(seen)
    if left:
        raise LabError(
            f"processes {', '.join(map(str, left))} of {', '.join(names)} survived SIGKILL — "
            "see `ps -o pid,stat,args -p PID`; run `meshkeeper lab down` again"
        )


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat: tells a process from a later one with its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(seen: dict[int, str]) -> list[int]:
    alive = []
    for pid, started in seen.items():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] not in ("Z", "X") and fields[19] == started:
            alive.append(pid)
    return sorted(alive)


def remove_mount_namespace(name: str) -> None:
    handle = mount_handle(name)
    run(["umount", str(handle)], check=False)
    handle.unlink(missing_ok=True)


def running(netns: str) -> set[str]:
    """Names of the programs running in a router (sshd, babeld, ...)."""
    names = set()
    for pid in pids_in(netns):
        with contextlib.suppress(OSError):
            names.add(Path(f"/proc/{pid}/comm").read_text().strip())
    return names
