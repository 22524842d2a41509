"""`meshkeeper-agent`: runs on each router, serves /metrics from cached collector state.

    meshkeeper-agent run --config /etc/meshkeeper/agent.json [--disable NAME]...
    meshkeeper-agent check --config FILE        validate the config, exit 2 if bad
    meshkeeper-agent collect --config FILE      run the collectors once, print /metrics
    meshkeeper-agent collectors                 list the collectors

Exit codes: 0 fine, 2 bad config or usage, 1 could not start.
"""

from __future__ import annotations

import argparse
import logging
import signal
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from agent import __version__
from agent.collectors import ALL, BY_NAME, Host, default_names
from agent.config import AgentConfig, check_files, load_config, member, source_name
from agent.errors import AgentError, CollectorError, ConfigError
from agent.exporter import MetricsServer, tls_context
from agent.schedule import Job, run_once, start
from agent.state import Reading, State

DEFAULT_CONFIG = Path("/etc/meshkeeper/agent.json")
log = logging.getLogger("meshkeeper.agent")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshkeeper-agent", description="meshkeeper's per-router metrics agent"
    )
    parser.add_argument("--version", action="version", version=f"meshkeeper-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "serve /metrics, collecting on each collector's interval"),
        ("check", "validate the config file and exit"),
        ("collect", "run the enabled collectors once and print the exposition"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "--config", type=Path, default=DEFAULT_CONFIG, help="agent.json (default: %(default)s)"
        )
        command.add_argument(
            "--disable",
            action="append",
            default=[],
            metavar="NAME",
            help="do not run this collector even if the config enables it (repeatable)",
        )
        command.add_argument("--root", type=Path, default=Path("/"), help=argparse.SUPPRESS)
    commands.add_parser("collectors", help="list the collectors and their default intervals")
    return parser


def enabled(config: AgentConfig, disabled: Sequence[str], source: str) -> list[tuple[str, float]]:
    names = dict(config.collectors) or {
        name: BY_NAME[name].interval_seconds for name in default_names(config)
    }
    known = f"no such collector — use one of {', '.join(BY_NAME)}"
    for name in names:
        if name not in BY_NAME:
            raise ConfigError(source, member("$.collectors", name), known)
    for name in disabled:  # a command-line mistake, not the config's
        if name not in BY_NAME:
            shown = name if name.isprintable() else repr(name)
            raise ConfigError("command line", f"--disable {shown}", known)
    return [(name, seconds) for name, seconds in names.items() if name not in disabled]


def jobs(
    config: AgentConfig, chosen: list[tuple[str, float]], host: Host, state: State
) -> list[Job]:
    out = []
    for name, seconds in chosen:
        try:
            collector = BY_NAME[name].build(config, host)
        except (CollectorError, OSError) as exc:  # reported as a failing collector, never fatal
            log.warning("collector %s cannot start: %s", name, exc)
            state.update(name, Reading((), False, 0.0, time.time(), str(exc)))
            continue
        out.append(Job(name, seconds, collector.collect))
    return out


def serve(
    config: AgentConfig,
    job_list: list[Job],
    state: State,
    stop: threading.Event,
    tls: ssl.SSLContext | None = None,
) -> None:
    start(job_list, state, stop)
    server = _bind(config, state, stop, tls)
    if server is None:
        return
    crashed: list[str] = []

    def exporter() -> None:
        try:
            server.serve_forever()
        except Exception as exc:  # a deaf agent must exit, so that procd restarts it
            log.exception("the exporter stopped")
            crashed.append(f"{type(exc).__name__}: {exc}")
            stop.set()

    threading.Thread(target=exporter, name="exporter", daemon=True).start()
    log.info("serving /metrics on %s:%d", config.listen.address, config.listen.port)
    stop.wait()
    server.shutdown()
    server.server_close()
    if crashed:
        raise AgentError(f"the exporter stopped ({crashed[0]}); procd restarts the agent")


def _bind(
    config: AgentConfig, state: State, stop: threading.Event, tls: ssl.SSLContext | None
) -> MetricsServer | None:
    """Bind, retrying: at boot the mesh address may not be configured yet."""
    warned = False
    while not stop.is_set():
        try:
            return MetricsServer(config.listen, state, tls, config_sha256=config.sha256)
        except OSError as exc:
            if not warned:
                log.warning(
                    "cannot listen on %s:%d yet (%s); retrying",
                    config.listen.address,
                    config.listen.port,
                    exc,
                )
                warned = True
            stop.wait(5)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="meshkeeper-agent: %(message)s")
    if args.command == "collectors":
        for spec in ALL:
            print(f"{spec.name:<12} every {spec.interval_seconds:g} s  {spec.summary}")
        return 0
    source = source_name(args.config)
    try:
        config = load_config(args.config)
        chosen = enabled(config, args.disable, source)
        tls = None
        if args.command != "collect":  # the files it serves with are there and load
            check_files(config, source)
            if config.listen.tls is not None:
                tls = tls_context(config.listen.tls, source)
    except ConfigError as exc:
        print(f"meshkeeper-agent: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(f"{args.config}: ok ({config.node}; collectors: {', '.join(n for n, _ in chosen)})")
        return 0
    state = State()
    job_list = jobs(config, chosen, Host(root=args.root), state)
    if args.command == "collect":
        for job in job_list:
            run_once(job, state)
        sys.stdout.buffer.write(state.exposition()[0])
        return 0
    return _run(config, job_list, state, tls)


def _run(config: AgentConfig, job_list: list[Job], state: State, tls: ssl.SSLContext | None) -> int:
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        serve(config, job_list, state, stop, tls)
    except AgentError as exc:
        print(f"meshkeeper-agent: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
