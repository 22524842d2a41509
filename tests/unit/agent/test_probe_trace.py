"""The trace probe: the IP_RECVERR control message parsed from bytes, and a real trace
to this machine's loopback (one hop: the port-unreachable comes from the target)."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from agent.config import Target
from agent.probes import trace
from agent.probes.base import Path, Request


def control(origin: int, kind: int, code: int, offender: str | None) -> bytes:
    err = struct.pack("=IBBBBII", 113, origin, kind, code, 0, 0, 0)
    if offender is None:
        return err + bytes(16)
    return err + struct.pack("=H", socket.AF_INET) + b"\0\0" + socket.inet_aton(offender) + bytes(8)


def test_time_exceeded_names_the_router_that_sent_it() -> None:
    error = trace.parse_error(control(2, 11, 0, "100.64.0.1"))
    assert error == trace.IcmpError(2, 11, 0, "100.64.0.1")


def test_short_or_foreign_control_data_is_not_an_error() -> None:
    assert trace.parse_error(b"\x01\x02") is None
    assert trace.parse_error(control(2, 3, 3, None)) == trace.IcmpError(2, 3, 3, None)


def request(address: str, timeout: float = 1.0) -> Request:
    target = Target("international", "intl-web", ("trace",), address)
    return Request("trace", target, Path("mesh"), timeout)


def test_a_trace_to_loopback_reaches_it_in_one_hop() -> None:
    result = trace.probe(request("127.0.0.1"))
    assert result.ok, result.evidence
    assert result.detail["hop_count"] == "1"
    assert result.evidence == "127.0.0.1 reached in 1 hops"


def test_judging_a_path_that_dies_after_the_second_hop() -> None:
    started = time.monotonic()
    hops = {
        1: trace.IcmpError(2, 11, 0, "10.31.0.1"),
        2: trace.IcmpError(2, 11, 0, "100.64.0.1"),
    }
    result = trace._judge(request("198.18.1.10"), started, "198.18.1.10", hops)
    assert not result.ok
    assert result.failure == "generic_timeout_error"
    assert result.detail == {
        "hops": "10.31.0.1,100.64.0.1",
        "last_hop": "100.64.0.1",
        "died_after": "2",
    }
    assert result.evidence == "the path dies after hop 2 (100.64.0.1)"


def test_an_unreachable_from_a_router_is_not_reaching_the_target() -> None:
    hops = {1: trace.IcmpError(2, 3, 1, "10.31.0.1")}  # host unreachable, from the first hop
    result = trace._judge(request("198.18.1.10"), time.monotonic(), "198.18.1.10", hops)
    assert not result.ok and result.failure == "host_unreachable"


def test_a_silent_path_fails_within_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """One hop only, and something listens on its port: no ICMP error ever comes."""
    monkeypatch.setattr(trace, "MAX_HOPS", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        try:
            listener.bind(("127.0.0.1", trace.BASE_PORT + 1))
        except OSError:
            pytest.fail("port 33435 on loopback is taken: the test needs it")
        started = time.monotonic()
        result = trace.probe(request("127.0.0.1", timeout=0.5))
    assert time.monotonic() - started < 1.0
    assert not result.ok
    assert result.failure == "generic_timeout_error"
    assert result.evidence == "no hop answered"
