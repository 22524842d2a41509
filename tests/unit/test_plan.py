"""Address planning: deterministic, stable when nodes come and go, never overlapping."""

from __future__ import annotations

import ipaddress
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.model.plan import SlotConflict, capacity, hashed_slot, plan_addresses
from controller.model.schema import Addressing, Node

ADDRESSING = Addressing(mesh="10.31.0.0/16", lan="10.32.0.0/11", lan_prefix=24)
names = st.from_regex(r"\A[a-z][a-z0-9-]{0,20}[a-z0-9]\Z")


def _node(name: str, node_id: int | None = None) -> Node:
    return Node(name=name, role="leaf", release="23.05", id=node_id)


def test_capacity_is_limited_by_the_smaller_pool() -> None:
    assert capacity(ADDRESSING) == 8191  # 2**(24-11) LAN subnets, minus the pool's first
    small = Addressing(mesh="10.31.0.0/24", lan="10.32.0.0/11", lan_prefix=24)
    assert capacity(small) == 254


def test_id_fixes_the_addresses() -> None:
    plans, issues = plan_addresses([_node("a", 7)], ADDRESSING)
    assert issues == []
    assert plans["a"].mesh_address == ipaddress.IPv4Address("10.31.0.7")
    assert plans["a"].lan_subnet == ipaddress.IPv4Network("10.32.7.0/24")
    assert plans["a"].lan_address == ipaddress.IPv4Address("10.32.7.1")
    assert plans["a"].management == plans["a"].mesh_address


def test_hashed_slot_depends_only_on_the_name() -> None:
    assert hashed_slot("leaf-hillside", 8191) == hashed_slot("leaf-hillside", 8191)
    assert 1 <= hashed_slot("x", 10) <= 10
    assert hashed_slot("a", 8191) != hashed_slot("b", 8191)


def test_same_slot_is_a_conflict_never_a_shift() -> None:
    plans, issues = plan_addresses([_node("a", 3), _node("b", 3)], ADDRESSING)
    assert issues == [SlotConflict(node="b", other="a", slot=3)]
    assert plans["a"].mesh_address == plans["b"].mesh_address  # reported, not silently moved


@settings(max_examples=60, deadline=None)
@given(existing=st.sets(names, min_size=1, max_size=40), added=st.sets(names, max_size=10))
def test_adding_nodes_never_renumbers_another(existing: set[str], added: set[str]) -> None:
    before, _ = plan_addresses([_node(n) for n in existing], ADDRESSING)
    after, issues = plan_addresses([_node(n) for n in existing | added], ADDRESSING)
    for name in existing:
        assert after[name] == before[name]
    # Any two nodes sharing addresses are reported as a conflict.
    by_address: dict[ipaddress.IPv4Address, str] = {}
    reported = {(i.node, i.other) for i in issues if isinstance(i, SlotConflict)}
    for name, plan in sorted(after.items()):
        other = by_address.setdefault(plan.mesh_address, name)
        if other != name:
            assert (name, other) in reported


@settings(max_examples=60, deadline=None)
@given(ids=st.sets(st.integers(min_value=1, max_value=8191), min_size=1, max_size=60))
def test_distinct_ids_never_overlap(ids: set[int]) -> None:
    nodes = [_node(f"n{i}", i) for i in ids]
    plans, issues = plan_addresses(nodes, ADDRESSING)
    assert issues == []
    subnets = sorted(p.lan_subnet for p in plans.values())
    for first, second in itertools.pairwise(subnets):
        assert not first.overlaps(second)
    assert len({p.mesh_address for p in plans.values()}) == len(ids)
    mesh = ipaddress.IPv4Network(ADDRESSING.mesh)
    lan = ipaddress.IPv4Network(ADDRESSING.lan)
    for plan in plans.values():
        assert plan.mesh_address in mesh
        assert plan.mesh_address not in (mesh.network_address, mesh.broadcast_address)
        assert plan.lan_subnet.subnet_of(lan)


def test_removing_a_node_keeps_the_others() -> None:
    nodes = [_node("gw", 1), _node("relay"), _node("leaf")]
    before, _ = plan_addresses(nodes, ADDRESSING)
    after, _ = plan_addresses(nodes[1:], ADDRESSING)
    assert after == {k: v for k, v in before.items() if k != "gw"}
