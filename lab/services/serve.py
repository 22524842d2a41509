"""The services program: `python -m lab.services.serve --config FILE`.

Starts every listener in FILE (see lab.services.config for its schema), logs
`ready`, then waits for signals:

    SIGHUP          re-read FILE. Listeners that stay keep their sockets and get
                    the new settings in one step; new ones open, dropped ones close.
                    A file that does not validate, a certificate that does not load
                    or an address that cannot be bound keeps the running config
                    whole, and the log says why.
    SIGTERM/SIGINT  stop accepting, let requests in progress finish (2 s at most),
                    exit 0.

`--check` validates FILE and exits. Exit status 2: the config is invalid;
1: a listener could not be opened. Tests and the lab can also drive a
`Services` in-process: `start`, `reload`, `stop`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.services import dns, echo, events, web
from lab.services.config import ServicesConfig, load, sockets
from lab.services.errors import ConfigError, ServiceError
from lab.services.listeners import Listener, TcpListener, UdpListener, close_all
from lab.services.names import IPAddress, endpoint

DRAIN_SECONDS = 2.0
Key = tuple[str, IPAddress, int]  # transport, address, port

# What serves each kind of listener on each transport.
HANDLERS: dict[tuple[str, str], type[Any]] = {
    ("dns", "udp"): dns.UdpHandler,
    ("dns", "tcp"): dns.TcpHandler,
    ("dns_injector", "udp"): dns.UdpHandler,
    ("http", "tcp"): web.WebHandler,
    ("tls", "tcp"): web.TlsWebHandler,
    ("tcp_echo", "tcp"): echo.EchoHandler,
}


@dataclass(frozen=True)
class _Plan:
    kind: str
    key: Key
    settings: object

    def open(self, max_concurrent: int) -> Listener:
        transport, address, port = self.key
        handler = HANDLERS[(self.kind, transport)]
        factory = UdpListener if transport == "udp" else TcpListener
        return factory(self.kind, address, port, handler, self.settings, max_concurrent)


class Services:
    """The listeners of one config, running; `reload` changes what they answer."""

    def __init__(self) -> None:
        self._listeners: dict[Key, tuple[str, Listener]] = {}
        self._lock = threading.Lock()
        self.config = ServicesConfig()

    def start(self, config: ServicesConfig) -> None:
        self.reload(config)

    def reload(self, config: ServicesConfig) -> None:
        """Serve `config`, all of it or (on ServiceError) none of it."""
        with self._lock:
            plans = _plans(config)
            self._check_kinds(plans)
            opened = self._open_new(plans, config.max_concurrent)
            for plan in plans:
                if plan.key in self._listeners:
                    kept = self._listeners[plan.key][1]
                    kept.settings, kept.limit = plan.settings, config.max_concurrent
            wanted = {plan.key for plan in plans}
            dropped = [self._listeners.pop(k)[1] for k in list(self._listeners) if k not in wanted]
            close_all(dropped, DRAIN_SECONDS)
            for plan, listener in opened:
                listener.start()
                self._listeners[plan.key] = (plan.kind, listener)
                events.log("listening", listener=listener.label)
            self.config = config

    def stop(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Close every listener; wait up to `drain_seconds` in all for requests in progress."""
        with self._lock:
            listeners = [listener for _kind, listener in self._listeners.values()]
            self._listeners.clear()
            close_all(listeners, drain_seconds)

    def labels(self) -> list[str]:
        return sorted(listener.label for _kind, listener in self._listeners.values())

    def _check_kinds(self, plans: Sequence[_Plan]) -> None:
        for plan in plans:
            running = self._listeners.get(plan.key)
            if running is not None and running[0] != plan.kind:
                transport, address, port = plan.key
                raise ConfigError(
                    f"{endpoint(address, port)}/{transport} is a {running[0]} listener and the "
                    f"new config makes it {plan.kind} — restart the services to change that"
                )

    def _open_new(
        self, plans: Sequence[_Plan], max_concurrent: int
    ) -> list[tuple[_Plan, Listener]]:
        opened: list[tuple[_Plan, Listener]] = []
        try:
            for plan in plans:
                if plan.key not in self._listeners:
                    opened.append((plan, plan.open(max_concurrent)))
        except ServiceError:
            for _plan, listener in opened:
                listener.server_close()
            raise
        return opened


def _plans(config: ServicesConfig) -> list[_Plan]:
    """One plan per socket, settings built (certificates loaded) before anything changes."""
    builders: dict[str, Callable[[int], object]] = {
        "dns": lambda i: dns.Resolver(config.dns[i]),
        "dns_injector": lambda i: dns.Injector(config.dns_injector[i]),
        "http": lambda i: web.http_settings(config.http[i]),
        "tls": lambda i: web.tls_settings(config.tls[i]),
        "tcp_echo": lambda i: None,
    }
    built: dict[str, object] = {}
    plans = []
    for sock in sockets(config):
        if sock.where not in built:  # a dns entry's UDP and TCP listeners share one Resolver
            built[sock.where] = builders[sock.kind](sock.entry)
        plans.append(_Plan(sock.kind, sock.key, built[sock.where]))
    return plans


def run(path: Path, config: ServicesConfig) -> int:
    """Serve `config` until SIGTERM or SIGINT, re-reading `path` on SIGHUP."""
    watched = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT}
    # Blocked before any thread starts, so every thread inherits the mask and only
    # sigwait below sees these signals: no handler runs in the middle of a request.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    services = Services()
    try:
        services.start(config)
        events.log("ready", listeners=len(services.labels()), config=path)
        while (signum := signal.sigwait(watched)) == signal.SIGHUP:
            _reload(services, path)
        events.log("stopping", signal=signal.Signals(signum).name)
    finally:
        services.stop()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    events.log("stopped")
    return 0


def _reload(services: Services, path: Path) -> None:
    try:
        services.reload(load(path))
    except ServiceError as exc:
        events.warn("reload.rejected", error=str(exc), kept="the running config")
        return
    events.log("reloaded", listeners=len(services.labels()), config=path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.services.serve",
        description="Serve the lab's DNS, HTTP, TLS and TCP echo endpoints.",
    )
    parser.add_argument("--config", type=Path, required=True, help="the JSON config file")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    args = parser.parse_args(argv)
    events.to_stderr()
    try:
        config = load(args.config)
        if args.check:
            events.log("config.ok", config=args.config, listeners=len(sockets(config)))
            return 0
        return run(args.config, config)
    except ServiceError as exc:
        events.LOGGER.error("%s", exc)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
