"""One node's push, over one SSH connection (reconnecting only after the apply):

1 inspect   applied generation and hash, pending marker, babel neighbours
2 stage     the tar stream into /tmp, then verify every file's sha256 there
3 back up   current files to flash (/etc/meshkeeper/backup/gen-N.tar, last 3)
4 arm       pending marker on flash + detached timer (+ boot hook from step 3)
5 install   copy each file next to its place and rename over it; then apply
            (reload_config, network and firewall together) detached
6 verify    reconnect over the new address: SSH answers, neighbours not fewer
7 confirm   clear the marker, stop the timer — or let the router roll itself
            back and check it came back on the old generation
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.push import remote
from controller.push.health import (
    AGENT_JSON,
    AgentEndpoint,
    AgentSeen,
    agent_before,
    agent_endpoint,
    agent_runs,
)
from controller.push.plan import NodeChange, expected_checksums, stage_archive
from controller.transport import (
    KnownHosts,
    SshTarget,
    Transport,
    TransportError,
    Unreachable,
    connect,
)
from controller.transport import Timeout as TransportTimeout


@dataclass
class RouterView:
    generation: int = 0
    tree_hash: str | None = None
    files: list[str] = field(default_factory=list)
    pending: str | None = None
    neighbours: int = 0
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


def inspect(transport: Transport, paths: list[str]) -> RouterView:
    out = transport.run(remote.inspect(paths), timeout=20).stdout.decode("utf-8", "replace")
    applied_text, _, rest = out.partition("--pending--")
    pending_text, _, rest = rest.partition("--neighbours--")
    neighbours_text, _, sums_text = rest.partition("--sums--")
    view = RouterView()
    try:
        applied = json.loads(applied_text.strip() or "{}")
        view.generation = int(applied.get("generation", 0))
        view.tree_hash = applied.get("hash")
        view.files = sorted(applied.get("files", {}))
    except (ValueError, AttributeError):
        pass  # no (or a broken) record: treat as never pushed
    view.pending = pending_text.strip() or None
    digits = neighbours_text.strip().splitlines()
    view.neighbours = int(digits[-1]) if digits and digits[-1].isdigit() else 0
    for line in sums_text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            view.sums[parts[1]] = parts[0]
    return view


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
    start = time.monotonic()
    say = progress or (lambda node, step: None)
    node = change.node
    try:
        with connect(change.target, known_hosts, accept_new=accept_new) as ssh:
            say(node, "inspecting")
            before = inspect(ssh, [f.path for f in change.files])
            if in_sync(change, before) and not force:
                return NodeResult(node, "unchanged", before.generation, time.monotonic() - start)
            endpoint = agent_endpoint(change)
            seen = (
                agent_before(change.target.host, endpoint.port)
                if endpoint is not None and not endpoint.mtls
                else None
            )
            generation = before.generation + 1
            backup = f"gen-{before.generation}.tar"
            archive = stage_archive(change, generation, before.files)
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
            ssh.run_checked(remote.apply(changed, agent=agent_changed), timeout=20)
            changed += others
    except TransportError as exc:
        kind = "unreachable" if isinstance(exc, Unreachable | TransportTimeout) else "failed"
        return NodeResult(node, kind, 0, time.monotonic() - start, error=str(exc))
    say(node, "verifying")
    # Confirm with a margin before the router's own timer fires; then allow for its
    # restore and reload before calling the node lost.
    verified = _verify(
        new_target,
        known_hosts,
        _Expect(
            before.neighbours,
            generation,
            (endpoint, seen) if endpoint is not None and seen is not None else None,
        ),
        armed + max(confirm_timeout - 5, 1),
    )
    if verified is None:
        say(node, "confirming")
        if _confirm(new_target, known_hosts):
            return NodeResult(node, "applied", generation, time.monotonic() - start, changed)
        verified = "confirmation did not reach the router"
    say(node, "waiting for rollback")
    return _await_rollback(
        change.target, known_hosts, before.generation, armed + confirm_timeout + 45, start, verified
    )


def in_sync(change: NodeChange, view: RouterView) -> bool:
    """Same rendered tree applied and confirmed, and no hand edit since (sha256 per file)."""
    wanted = {f.path: hashlib.sha256(f.data).hexdigest() for f in change.files}
    return view.tree_hash == change.tree_hash and not view.pending and view.sums == wanted


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


@dataclass(frozen=True)
class _Expect:
    """What a healthy node shows after the push."""

    neighbours: int  # at least as many babel neighbours as before
    generation: int
    # answering (with the new agent.json, when it can say so) if it answered before
    agent: tuple[AgentEndpoint, AgentSeen] | None


def _verify(
    target: SshTarget, known_hosts: KnownHosts, expect: _Expect, deadline: float
) -> str | None:
    """None when healthy on the new generation; else why not (the router will roll back)."""
    last = "SSH did not answer over the new path"
    time.sleep(2)
    while time.monotonic() < deadline:
        try:
            with connect(target, known_hosts) as ssh:
                view = inspect(ssh, [])
        except TransportError as exc:
            last = f"SSH over the new path failed: {exc}"
            time.sleep(2)
            continue
        if view.generation != expect.generation or view.pending is None:
            # e.g. a power cut in the window: it booted back into the old config
            return f"the router is on generation {view.generation}, not {expect.generation}"
        if view.neighbours < expect.neighbours:
            last = f"{view.neighbours} mesh neighbours, fewer than the {expect.neighbours} before"
        elif expect.agent is None or _agent_ready(*expect.agent, deadline):
            return None
        else:
            last = (
                "the agent answered before the push and does not answer now with the new agent.json"
            )
        time.sleep(2)
    return last


def _agent_ready(endpoint: AgentEndpoint, seen: AgentSeen, deadline: float) -> bool:
    """Poll the agent (cheap, no SSH) while it restarts on its new agent.json."""
    while True:
        if agent_runs(endpoint, seen):
            return True
        if time.monotonic() + AGENT_POLL_SECONDS >= deadline:
            return False
        time.sleep(AGENT_POLL_SECONDS)


def _confirm(target: SshTarget, known_hosts: KnownHosts) -> bool:
    try:
        with connect(target, known_hosts) as ssh:
            return ssh.run(remote.CONFIRM, timeout=20).ok
    except TransportError:
        return False


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
                    return NodeResult(
                        node, "rolled_back", old_generation, time.monotonic() - start, error=why
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
