"""One node's push, over one SSH connection until the apply, new ones after it:

1 inspect   applied generation and hash, pending marker, babel neighbours (or
            refuse: neighbours that cannot be counted, packages the config needs)
2 stage     the tar stream into /tmp, then verify every file's sha256 there
3 back up   current files to flash (/etc/meshkeeper/backup/gen-N.tar, last 3)
4 arm       pending marker on flash + detached timer (+ boot hook from step 3)
5 install   copy each file next to its place and rename over it; then start
            apply.sh detached: reloads, waits until procd's triggers have run
            and services are steady, checks SSH listens where we come back
6 settle    poll (a new connection each time) until apply.sh says settled; a
            failed step rolls the router back at once
7 verify    a NEW connection and login to the address the new config serves:
            new generation, neighbours not fewer, agent answering; then
8 confirm   over that connection: clear the marker, stop the timer — or let the
            router roll itself back and check it came back on the old generation

Why a new login after the settle (../shared/FIELD-NOTES.md, applying is
asynchronous): procd restarts dropbear a second or more after reload_config; a
login before that reaches the old dropbear, which dies next, and a confirm
sent through it once left a router with SSH listening nowhere.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.push import packages, remote
from controller.push.health import (
    AGENT_JSON,
    AgentEndpoint,
    AgentSeen,
    agent_before,
    agent_endpoint,
    agent_runs,
)
from controller.push.plan import NodeChange, differences, expected_checksums, stage_archive
from controller.transport import (
    KnownHosts,
    SshTarget,
    Transport,
    TransportError,
    Unreachable,
    connect,
)
from controller.transport import Timeout as TransportTimeout
from controller.transport.errors import printable


@dataclass
class RouterView:
    generation: int = 0
    tree_hash: str | None = None
    files: list[str] = field(default_factory=list)
    pending: str | None = None
    neighbours: int | None = 0  # None: babeld runs but could not be asked
    apply_state: str = ""  # apply.sh's last outcome line (in /tmp: gone after a reboot)
    rollbacks: list[str] = field(default_factory=list)  # the router's own, newest last
    packages: set[str] = field(default_factory=set)
    sums: dict[str, str] = field(default_factory=dict)  # path → sha256 of what is there now


@dataclass
class NodeResult:
    node: str
    result: str  # applied, unchanged, rolled_back, unreachable, failed, skipped
    generation: int = 0
    duration: float = 0.0
    changed: list[str] = field(default_factory=list)
    error: str | None = None


Progress = Callable[[str, str], None]


def inspect(transport: Transport, paths: list[str], *, packages: bool = False) -> RouterView:
    command = remote.inspect(paths, packages=packages)
    return parse_view(transport.run(command, timeout=20).stdout.decode("utf-8", "replace"))


def parse_view(out: str) -> RouterView:
    """What remote.inspect printed, read into a RouterView."""
    applied_text, _, rest = out.partition("--pending--")
    pending_text, _, rest = rest.partition("--neighbours--")
    neighbours_text, _, rest = rest.partition("--apply--")
    apply_text, _, rest = rest.partition("--rollbacks--")
    rollbacks_text, _, rest = rest.partition("--packages--")
    packages_text, _, sums_text = rest.partition("--sums--")
    view = RouterView()
    record = _applied_record(applied_text)
    if record is not None:  # no (or a broken) record: as never pushed
        view.generation, view.tree_hash, view.files = record
    view.pending = pending_text.strip() or None
    view.neighbours = _neighbour_count(neighbours_text)
    view.apply_state = apply_text.strip()
    view.rollbacks = [line.strip() for line in rollbacks_text.splitlines() if line.strip()]
    view.packages = {line.strip() for line in packages_text.splitlines() if line.strip()}
    for line in sums_text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            view.sums[parts[1]] = parts[0]
    return view


def _applied_record(text: str) -> tuple[int, str | None, list[str]] | None:
    """generation, tree hash and files of applied.json, or None if it is not one."""
    try:
        applied = json.loads(text.strip() or "{}")
    except (ValueError, RecursionError):
        return None
    if not isinstance(applied, dict):
        return None
    generation, tree, files = (applied.get(k) for k in ("generation", "hash", "files"))
    generation = 0 if generation is None else generation
    if not isinstance(generation, int) or isinstance(generation, bool):
        return None
    if not isinstance(tree, str | None) or not isinstance(files, dict | None):
        return None
    return generation, tree, sorted(files or {})


def _neighbour_count(text: str) -> int | None:
    words = text.split()
    last = words[-1] if words else "none"
    if last == "none":  # nothing listens on babeld's local port: no babeld, no neighbours
        return 0
    return int(last) if last.isdigit() and len(last) <= 6 else None


def push_node(
    change: NodeChange,
    known_hosts: KnownHosts,
    *,
    accept_new: bool,
    confirm_timeout: int,
    new_target: SshTarget,
    force: bool = False,
    progress: Progress | None = None,
) -> NodeResult:
    """Push one node. `change.target` is where it answers now; `new_target` where its
    new config serves SSH (the same address, except when a push moves it)."""
    start = time.monotonic()
    say = progress or (lambda node, step: None)
    node = change.node
    try:
        with connect(change.target, known_hosts, accept_new=accept_new) as ssh:
            say(node, "inspecting")
            before = inspect(ssh, [f.path for f in change.files], packages=True)
            if in_sync(change, before) and not force:
                return NodeResult(node, "unchanged", before.generation, time.monotonic() - start)
            refused = _refusal(change, before)
            if refused is not None:
                return NodeResult(
                    node, "failed", before.generation, time.monotonic() - start, error=refused
                )
            endpoint = agent_endpoint(change)
            seen = (
                agent_before(change.target.host, endpoint.port)
                if endpoint is not None and not endpoint.mtls
                else None
            )
            generation = before.generation + 1
            backup = f"gen-{before.generation}.tar"
            archive = stage_archive(change, generation, before.files, new_target)
            say(node, "staging")
            _stage(ssh, node, archive)
            say(node, "backing up")
            ssh.run_checked(remote.install_tools(backup), timeout=60)
            say(node, "arming rollback")
            ssh.run_checked(remote.arm(backup, confirm_timeout), timeout=20)
            armed = time.monotonic()
            say(node, "installing")
            ssh.run_checked(remote.INSTALL, timeout=60)
            changed = _changed_packages(change, before)
            others = [
                f.path
                for f in change.files
                if not f.path.startswith("etc/config/")
                and before.sums.get(f.path) != hashlib.sha256(f.data).hexdigest()
            ]
            # a new agent.json, or none any more (agent disabled): the agent's service reloads
            agent_changed = AGENT_JSON in others or (
                endpoint is None and AGENT_JSON in before.files
            )
            ssh.run_checked(remote.apply(generation, changed, agent=agent_changed), timeout=20)
            changed += others
    except TransportError as exc:
        kind = "unreachable" if isinstance(exc, Unreachable | TransportTimeout) else "failed"
        return NodeResult(node, kind, 0, time.monotonic() - start, error=str(exc))
    # Confirm with a margin before the router's own timer fires; then allow for its
    # restore and reload before calling the node lost.
    deadline = armed + max(confirm_timeout - 5, 1)
    say(node, "settling")
    problem = _await_settled(new_target, known_hosts, generation, backup, deadline)
    if problem is None:
        say(node, "verifying")
        expect = _Expect(
            before.neighbours or 0,
            generation,
            (endpoint, seen) if endpoint is not None and seen is not None else None,
        )
        problem = _verify_and_confirm(new_target, known_hosts, expect, deadline)
    if problem is None:
        return NodeResult(node, "applied", generation, time.monotonic() - start, changed)
    say(node, "waiting for rollback")
    return _await_rollback(
        change.target, known_hosts, before.generation, armed + confirm_timeout + 45, start, problem
    )


def _refusal(change: NodeChange, before: RouterView) -> str | None:
    """Why this push must not start (nothing has changed yet), or None."""
    if before.neighbours is None:
        return (
            "babeld runs but its neighbours cannot be counted (neither `busybox nc` nor `nc` "
            "read babeld's local socket at [::1]:33123), so the push could not tell whether "
            "it broke the mesh — install busybox with nc, or check babeld's local-port"
        )
    gaps = packages.missing(packages.needs(change.files), before.packages)
    return packages.refusal(change.node, gaps) if gaps else None


def in_sync(change: NodeChange, view: RouterView) -> bool:
    """Same rendered tree applied and confirmed, and no hand edit since (sha256 per file):
    the very test `diff` and `push --dry-run` use."""
    return not differences(change, view)


def _stage(ssh: Transport, node: str, archive: bytes) -> None:
    result = ssh.run(remote.PREPARE, stdin=archive, timeout=60)
    if not result.ok:
        reason = " ".join(result.stderr.decode("utf-8", "replace").split())[-300:]
        raise _staging_error(ssh, node, reason)
    sums = ssh.run_checked(remote.CHECKSUMS, timeout=30).stdout.decode()
    found = {line.split()[1]: line.split()[0] for line in sums.splitlines() if line.strip()}
    if found != expected_checksums(archive):
        raise _staging_error(ssh, node, "staged files differ from what was sent (sha256)")


class StagingFailed(TransportError):
    """The files could not be staged intact in the router's /tmp; nothing was changed."""


def _staging_error(ssh: Transport, node: str, reason: str) -> TransportError:
    ssh.run(f"rm -rf {remote.STAGE}", timeout=20)
    return StagingFailed(
        node,
        f"staging in /tmp failed, nothing was changed: {reason} — "
        "free space in the router's /tmp (it may be full) and push again",
    )


def _changed_packages(change: NodeChange, before: RouterView) -> list[str]:
    """The UCI packages whose bytes differ from what the router holds."""
    return sorted(
        f.path.rsplit("/", 1)[-1]
        for f in change.files
        if f.path.startswith("etc/config/")
        and before.sums.get(f.path) != hashlib.sha256(f.data).hexdigest()
    )


AGENT_POLL_SECONDS = 0.5
SETTLE_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class _Expect:
    """What a healthy node shows after the push."""

    neighbours: int  # at least as many babel neighbours as before
    generation: int
    # answering (with the new agent.json, when it can say so) if it answered before
    agent: tuple[AgentEndpoint, AgentSeen] | None


def _await_settled(
    target: SshTarget, known_hosts: KnownHosts, generation: int, backup: str, deadline: float
) -> str | None:
    """None once apply.sh reports the new generation settled; else why not. A failed
    step (read from the apply log) rolls the router back at once when it is reachable.

    Reading the outcome may go through a login that the old dropbear served (its
    sessions survive a restart): that is fine for reading a file. What proves the new
    config is the NEW login that _verify_and_confirm makes afterwards. One polling
    connection is kept while it lasts: a key exchange a second costs more CPU than
    the apply it waits for (50 lab routers on 2 cores)."""
    last = "SSH did not answer over the new path"
    ssh: Transport | None = None
    try:
        while time.monotonic() < deadline:
            time.sleep(SETTLE_POLL_SECONDS)
            try:
                if ssh is None:
                    ssh = connect(target, known_hosts)
                    ssh.open()
                # short: a session whose address went away hangs rather than resets
                outcome = ssh.run(remote.APPLY_OUTCOME, timeout=5).stdout
            except TransportError as exc:
                last = f"SSH over the new path failed: {_short(exc)}"
                if ssh is not None:
                    ssh.close()
                ssh = None
                continue
            verdict = _settle_verdict(outcome.decode("utf-8", "replace"), generation, backup)
            if verdict != STILL_APPLYING:
                if verdict is not None and verdict.startswith(APPLY_FAILED):
                    ssh.run(remote.rollback_now(backup), timeout=20)
                return verdict
            last = verdict
    finally:
        if ssh is not None:
            ssh.close()
    return last


STILL_APPLYING = "the router is still applying the new config"
APPLY_FAILED = "the apply failed on the router"


def _settle_verdict(outcome: str, generation: int, backup: str) -> str | None:
    """None when settled on `generation`; else STILL_APPLYING or a final reason."""
    state, _, rest_out = outcome.partition("--pending--")
    pending, _, log = rest_out.partition("--log--")
    word, _, rest = state.strip().partition(" ")
    if pending.strip() != backup:
        # a reboot (power cut) restored the old config at boot, and wiped /tmp
        return "the router stopped waiting for a confirmation (it rebooted or rolled back)"
    if word == "settled" and rest.strip() == str(generation):
        return None
    if word == "failed":
        return f"{APPLY_FAILED} ({rest.strip()}): {_log_tail(log)}"
    return STILL_APPLYING


def _short(exc: TransportError) -> str:
    """The reason alone: the full hint of an unreachable router is for the first contact."""
    if isinstance(exc, Unreachable):
        return f"cannot reach SSH at {exc.address} ({exc.reason})"
    return str(exc)


def _log_tail(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return " | ".join(lines[-6:])[-400:] or "no apply log"


def _verify_and_confirm(
    target: SshTarget, known_hosts: KnownHosts, expect: _Expect, deadline: float
) -> str | None:
    """None once confirmed over a new connection on which the node looked healthy;
    else why not (the router will roll back)."""
    last = "SSH did not answer over the new path"
    while time.monotonic() < deadline:
        try:
            with connect(target, known_hosts) as ssh:
                view = inspect(ssh, [])
                if view.generation != expect.generation or view.pending is None:
                    # e.g. a power cut in the window: it booted back into the old config
                    return f"the router is on generation {view.generation}, not {expect.generation}"
                last = _unhealthy(view, expect, deadline) or ""
                if not last:
                    if ssh.run(remote.CONFIRM, timeout=20).ok:
                        return None
                    last = "the confirmation failed on the router"
        except TransportError as exc:
            last = f"SSH over the new path failed: {_short(exc)}"
        time.sleep(2)
    return last


def _unhealthy(view: RouterView, expect: _Expect, deadline: float) -> str | None:
    if view.neighbours is None:
        return "babeld runs but its neighbours cannot be counted any more"
    if view.neighbours < expect.neighbours:
        return f"{view.neighbours} mesh neighbours, fewer than the {expect.neighbours} before"
    if expect.agent is not None and not _agent_ready(*expect.agent, deadline):
        return "the agent answered before the push and does not answer now with the new agent.json"
    return None


def _agent_ready(endpoint: AgentEndpoint, seen: AgentSeen, deadline: float) -> bool:
    """Poll the agent (cheap, no SSH) while it restarts on its new agent.json."""
    while True:
        if agent_runs(endpoint, seen):
            return True
        if time.monotonic() + AGENT_POLL_SECONDS >= deadline:
            return False
        time.sleep(AGENT_POLL_SECONDS)


def _await_rollback(
    old_target: SshTarget,
    known_hosts: KnownHosts,
    old_generation: int,
    deadline: float,
    start: float,
    why: str,
) -> NodeResult:
    node = old_target.node
    while time.monotonic() < deadline:
        try:
            with connect(old_target, known_hosts) as ssh:
                view = inspect(ssh, [])
                if view.pending is None and view.generation == old_generation:
                    said = (
                        f" (router: {describe_rollback(view.rollbacks[-1])})"
                        if view.rollbacks
                        else ""
                    )
                    return NodeResult(
                        node,
                        "rolled_back",
                        old_generation,
                        time.monotonic() - start,
                        error=why + said,
                    )
        except TransportError:
            pass
        time.sleep(3)
    return NodeResult(
        node,
        "unreachable",
        0,
        time.monotonic() - start,
        error=f"{why}; the router did not come back on its old config in time",
    )


def _router_says(view: RouterView) -> str:
    return f" (router: {describe_rollback(view.rollbacks[-1])})" if view.rollbacks else ""


ROLLBACK_CAUSES = {
    "boot": "restored at boot: a push was still unconfirmed when it powered up",
    "timer": "restored by its timer: no confirmation in time",
    "failed-apply": "restored at once: the apply failed",
}


def describe_rollback(line: str) -> str:
    """One line of the router's rollbacks.log (`EPOCH CAUSE BACKUP`), for people."""
    parts = line.split()
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 11:
        return printable(line[:200])  # the router's words, never a terminal's command
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(parts[0])))
    cause = ROLLBACK_CAUSES.get(parts[1], parts[1])
    return printable(f"{cause}, back to {parts[2][:100]} at {when}")
