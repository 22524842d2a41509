"""`meshkeeper-agent`: runs on each router, serves /metrics from cached collector state.

    meshkeeper-agent run --config /etc/meshkeeper/agent.json [--disable NAME]...
    meshkeeper-agent check --config FILE        validate the config, exit 2 if bad
    meshkeeper-agent collect --config FILE      run the collectors once, print /metrics
    meshkeeper-agent collectors                 list the collectors
    meshkeeper-agent probe --config FILE [--once] [--json]
                                                run probe rounds by hand: each result,
                                                the verdict and its evidence
    meshkeeper-agent journal export [--since T] [--until T]
                                                the journal as OpenMetrics, for backfill

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

from agent import __version__, contract
from agent.collectors import ALL, BY_NAME, Host, default_names
from agent.config import AgentConfig, check_files, load_config, member, source_name
from agent.detector import DEFAULT_STATE_DIR, Detector
from agent.errors import AgentError, CollectorError, ConfigError
from agent.exporter import MetricsServer, tls_context
from agent.probe_cli import journal_export, probe_command
from agent.schedule import Job, run_once, start
from agent.state import Reading, State

DEFAULT_CONFIG = Path("/etc/meshkeeper/agent.json")
log = logging.getLogger("meshkeeper.agent")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=contract.AGENT_PROGRAM, description="meshkeeper's per-router metrics agent"
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
        if name == "run":
            command.add_argument(
                "--probe-interval",
                type=_seconds,
                metavar="SECONDS",
                help="probe every SECONDS instead of agent.json's interval (the lab uses 5)",
            )
            command.add_argument(
                "--collect-interval",
                type=_seconds,
                metavar="SECONDS",
                help="run every collector every SECONDS instead of agent.json's (the lab uses 5)",
            )
            command.add_argument(
                "--state-dir",
                type=Path,
                default=DEFAULT_STATE_DIR,
                help="baselines and journal, on flash (default: %(default)s)",
            )
    probe = commands.add_parser(
        "probe", help="run probe rounds now and print results and verdict", description=PROBE_HELP
    )
    probe.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    probe.add_argument(
        "--once", action="store_true", help="one round (default: 3, the verdict's K)"
    )
    probe.add_argument("--json", action="store_true", help="machine-readable output")
    probe.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="read the learned baselines from here (never written by this command)",
    )
    group, export_name = contract.JOURNAL_EXPORT  # `meshkeeper backfill` runs it over SSH
    journal = commands.add_parser(group, help="the on-flash journal of probe rounds")
    journal_commands = journal.add_subparsers(dest="journal_command", required=True)
    export = journal_commands.add_parser(
        export_name,
        help="write the journal as OpenMetrics with timestamps (for meshkeeper backfill)",
    )
    export.add_argument("--since", type=_timestamp, default=None, metavar="UNIX_TIME")
    export.add_argument("--until", type=_timestamp, default=None, metavar="UNIX_TIME")
    export.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    commands.add_parser("collectors", help="list the collectors and their default intervals")
    return parser


PROBE_HELP = (
    "Run probe rounds as the agent does (every kind agent.json names, through every "
    "uplink) and print each result, then the verdict with its evidence. The verdict "
    "needs K agreeing rounds, so without --once three rounds run, one interval apart "
    "at most 5 s. Exit status 0: the verdict is ok; 3: it holds something else."
)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be from 1 to 3600 seconds")
    return value


def _timestamp(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a unix time") from None
    if not 0 <= value < 1e11:
        raise argparse.ArgumentTypeError(f"{text!r} is not a unix time")
    return value


def enabled(
    config: AgentConfig, disabled: Sequence[str], source: str, host: Host | None = None
) -> list[tuple[str, float]]:
    names = dict(config.collectors) or {
        name: BY_NAME[name].interval_seconds for name in default_names(config, host)
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
    if args.command == contract.JOURNAL_EXPORT[0]:
        return journal_export(args.state_dir, args.since, args.until)
    source = source_name(args.config)
    if args.command == "probe":
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"meshkeeper-agent: {exc}", file=sys.stderr)
            return 2
        return probe_command(config, args.state_dir, once=args.once, as_json=args.json)
    try:
        config = load_config(args.config)
        chosen = enabled(config, args.disable, source, Host(root=args.root))
        if getattr(args, "collect_interval", None):
            chosen = [(name, args.collect_interval) for name, _ in chosen]
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
    detector = probe_detector(config, args.state_dir)
    if detector is not None:
        interval = args.probe_interval or float(config.probes.interval_seconds)
        job_list.append(Job("probes", interval, detector.collect))
    try:
        return _run(config, job_list, state, tls)
    finally:
        if detector is not None:
            detector.close()  # the journal's last batch, and the baselines, to flash


def probe_detector(config: AgentConfig, state_dir: Path) -> Detector | None:
    """The probes' detector: nothing to probe, none."""
    probes = config.probes
    if not probes.targets and not probes.gateways and not (probes.gateway and config.uplinks):
        return None
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:  # probing still works; only memory across restarts is lost
        log.warning("no state directory %s (%s): baselines and journal stay in RAM", state_dir, exc)
        return Detector(config)
    return Detector.on_flash(config, state_dir)


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
