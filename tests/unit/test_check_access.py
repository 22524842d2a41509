"""After a push, can the controller still log in? `check`'s errors and its warning.

Errors: the management address on no interface that exists, or in a firewall
zone that does not accept SSH. Warning: the controller's own login key missing
from the authorized_keys a push would install. The firewall's verdicts are
also checked against the rendered file itself, by an evaluator written here
independently of the renderer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.errors import InventoryError
from controller.model.checks.access import key_ids, read_public_key
from controller.model.checks.located import NodeWarning
from controller.model.inventory import Inventory
from controller.model.load import load_inventory
from controller.render import firewall
from controller.render.context import NodeContext, SecretCache
from controller.render.reach import ssh_paths
from controller.render.tree import render_node
from controller.uci import Package, Section, parse
from tests.conftest import LAB_KEY

OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherOtherOtherOtherOtherOtherOtherOther000 other"


def _load(folder: Path) -> Inventory:
    return load_inventory(folder, resolve_secrets=True)


def _problems(folder: Path) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        _load(folder)
    return [str(problem) for problem in caught.value.problems]


def _edit_node(folder: Path, name: str, *, wired: bool = False, **settings: object) -> None:
    """Merge `settings` into one node of the example (comments are lost; lines move);
    `wired`: its links become ethernet (a node off the mesh has no radio for them)."""
    path = folder / "nodes.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["nodes"][name].update(settings)
    for link in data["links"]:
        if wired and name in (link["a"], link["b"]):
            link["medium"] = "ethernet"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _context(inv: Inventory, name: str) -> NodeContext:
    return NodeContext(inv, inv.nodes[name], inv.plan[name], SecretCache(inv))


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# ---------------------------------------------------------------- where SSH is reachable


def test_example_nodes_have_a_reachable_management_address(example_copy: Path) -> None:
    inv = _load(example_copy)
    for name in inv.nodes:
        paths = ssh_paths(_context(inv, name))
        assert paths, name
        assert all(p.usable and p.zone == "mesh" and p.verdict == "ACCEPT" for p in paths)
    entry = ssh_paths(_context(inv, "gw-market"))
    assert [(p.interface, p.device) for p in entry] == [("mesh", None), ("noc", "lan4")]


def test_radio_less_babel_mesh_is_no_way_in(example_copy: Path) -> None:
    """Management only on babel's `mesh`, whose only device is a radio that is off."""
    _edit_node(example_copy, "leaf-hillside", radios={"radio1": {"disabled": True}})
    nodes = example_copy / "nodes.yaml"
    assert _problems(example_copy) == [
        f"{nodes}:{_line_of(nodes, 'disabled: true')}:9: "
        "nodes.leaf-hillside.radios.radio1.disabled: takes down radio1, the only way into "
        "babel's `mesh` interface (it has no device of its own), which alone carries the "
        "management address 10.31.19.161: after a push the controller could not reach SSH on "
        "it — enable the radio, add a wired mesh port (mesh.ports), or give the node a "
        "`management:` address (it goes on lo)"
    ]


@pytest.mark.parametrize(
    "settings",
    [
        {"mesh": {"ports": ["lan2"]}},  # a wired mesh port carries the mesh address too
        {"management": "10.31.200.7"},  # its own /32 on lo, in the mesh zone
    ],
)
def test_a_wired_port_or_own_management_address_is_a_way_in(
    example_copy: Path, settings: dict[str, object]
) -> None:
    _edit_node(example_copy, "leaf-hillside", radios={"radio1": {"disabled": True}}, **settings)
    inv = _load(example_copy)
    paths = ssh_paths(_context(inv, "leaf-hillside"))
    assert any(p.usable and p.device in ("lan2", "lo") for p in paths)


def test_no_mesh_radio_and_no_ports_is_reported_once(example_copy: Path) -> None:
    _edit_node(example_copy, "leaf-hillside", wired=True, mesh={"radio": None})
    problems = _problems(example_copy)
    assert sum("takes part in the mesh with no radio and no ports" in p for p in problems) == 1
    assert not any("reach SSH" in p for p in problems)  # the same cause, not said twice


def test_off_mesh_node_without_management_address(example_copy: Path) -> None:
    _edit_node(example_copy, "leaf-hillside", wired=True, mesh={"enabled": False})
    path = example_copy / "nodes.yaml"
    problems = _problems(example_copy)
    assert problems == [
        f"{path}:{_line_of(path, 'enabled: false')}:7: nodes.leaf-hillside.mesh.enabled: is "
        "false, so the management address 10.31.19.161 (the mesh address) is on no interface: "
        "after a push the controller could not reach SSH on it — enable the mesh, or give the "
        "node a `management:` address (it goes on lo)"
    ]


def test_the_noc_link_is_a_way_in_for_an_off_mesh_entry_node(example_copy: Path) -> None:
    _edit_node(example_copy, "gw-market", wired=True, mesh={"enabled": False})
    inv = _load(example_copy)
    paths = ssh_paths(_context(inv, "gw-market"))
    assert [(p.interface, p.zone, p.verdict) for p in paths] == [("noc", "mesh", "ACCEPT")]
    firewall_file = {f.path: f.data for f in render_node(_context(inv, "gw-market"))}
    rules = firewall_file["etc/config/firewall"].decode()
    assert "Allow-Babel" not in rules  # no mesh, no babel port open
    assert (
        "Allow-Babel"
        in {f.path: f.data for f in render_node(_context(inv, "gw-school"))}[
            "etc/config/firewall"
        ].decode()
    )


# ---------------------------------------------------------------- the firewall's answer


def _independent_verdict(pkg: Package, zone: str | None, port: int) -> str:
    """fw3/fw4 for an IPv4 TCP connection to the router itself, read off the file:
    the first input rule of the zone matching it, else the zone's (or defaults') policy."""
    sections = pkg.sections
    defaults = next(s for s in sections if s.type == "defaults")
    if zone is None:
        return str(defaults.options["input"])
    for rule in (s for s in sections if s.type == "rule"):
        o = rule.options
        if o.get("src") != zone or "dest" in o or o.get("family") == "ipv6":
            continue
        if o.get("proto", "tcpudp") not in ("tcp", "tcpudp", "all"):
            continue
        if "dest_port" in o and str(port) not in str(o["dest_port"]).split():
            continue
        return str(o["target"])
    zone_section = next(s for s in sections if s.type == "zone" and s.options["name"] == zone)
    return str(zone_section.options.get("input", defaults.options["input"]))


def test_ssh_is_open_to_the_mesh_only_on_every_example_node(example_copy: Path) -> None:
    inv = _load(example_copy)
    for name in inv.nodes:
        ctx = _context(inv, name)
        files = {f.path: f.data for f in render_node(ctx)}
        pkg = parse(files["etc/config/firewall"].decode(), package="firewall")
        zones = [str(s.options["name"]) for s in pkg.sections if s.type == "zone"]
        for zone in [*zones, None]:
            for port in (22, 9110, 8080):
                assert firewall.tcp_input_verdict(ctx, zone, port) == _independent_verdict(
                    pkg, zone, port
                ), (name, zone, port)
        assert firewall.tcp_input_verdict(ctx, "mesh", 22) == "ACCEPT"
        assert firewall.tcp_input_verdict(ctx, "lan", 22) == "REJECT"  # a LAN client: never
        assert firewall.tcp_input_verdict(ctx, None, 22) == "REJECT"
        if "wan" in zones:
            assert firewall.tcp_input_verdict(ctx, "wan", 22) == "REJECT"


def test_management_in_the_lan_zone_is_refused(
    example_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renderer change that put the mesh into the LAN zone would lock the controller
    out (Block-ssh-from-LAN); check asks the renderer's own zone table and says so."""
    real = firewall.zone_networks

    def mesh_in_lan(ctx: NodeContext) -> dict[str, list[str]]:
        zones = real(ctx)
        zones["lan"] = zones["lan"] + zones.pop("mesh", [])
        return zones

    monkeypatch.setattr(firewall, "zone_networks", mesh_in_lan)
    monkeypatch.setattr("controller.render.reach.zone_networks", mesh_in_lan)
    problems = _problems(example_copy)
    defaults = example_copy / "defaults.yaml"
    assert len(problems) == 9  # each node's mesh, and the entry node's NOC link too
    assert problems[0] == (
        f"{defaults}:10:5: defaults.ssh.port: firewall zone 'lan' would REJECT port 22 on "
        "interface 'mesh', which carries the management address 10.31.0.1: after a push the "
        "controller would be locked out (on gw-market) — meshkeeper should never render this "
        "— report it as a bug and do not push the node"
    )


def test_mesh_zone_without_the_ssh_rule_is_refused(
    example_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = firewall.admin_rules
    monkeypatch.setattr(
        firewall, "admin_rules", lambda ctx: [r for r in real(ctx) if r.what != "ssh"]
    )
    problems = _problems(example_copy)
    assert problems and all("firewall zone 'mesh' would REJECT port 22" in p for p in problems)


# ---------------------------------------------------------------- the controller's own key


def test_no_warning_when_the_login_key_is_installed(example_copy: Path) -> None:
    assert _load(example_copy).warnings == ()


def test_warning_when_the_login_key_is_missing(example_copy: Path) -> None:
    other = example_copy / "secrets" / "other_ed25519"
    other.with_name("other_ed25519.pub").write_text(OTHER_KEY + "\n", encoding="utf-8")
    _edit_node(example_copy, "leaf-hillside", ssh={"key_file": "secrets/other_ed25519"})
    inv = _load(example_copy)  # a warning is not a problem: the inventory loads
    defaults = example_copy / "defaults.yaml"
    public = other.with_name("other_ed25519.pub")
    assert [str(w) for w in inv.warnings] == [
        f"warning: {defaults}:15:5: defaults.ssh.authorized_keys: does not hold the "
        f"controller's login key {public} (ssh-ed25519): after a push the controller could "
        f"no longer log in (on leaf-hillside) — add {{file: {public}}} to ssh.authorized_keys, "
        "or point ssh.key_file at a key that is listed"
    ]
    assert all(isinstance(w, NodeWarning) for w in inv.warnings)
    assert load_inventory(example_copy, resolve_secrets=False).warnings == ()


def test_unreadable_login_key_is_push_s_to_report(example_copy: Path) -> None:
    _edit_node(example_copy, "leaf-hillside", ssh={"key_file": "secrets/none_such"})
    assert _load(example_copy).warnings == ()


def test_warnings_stay_out_of_the_errors(example_copy: Path) -> None:
    other = example_copy / "secrets" / "other_ed25519.pub"
    other.write_text(OTHER_KEY + "\n", encoding="utf-8")
    _edit_node(example_copy, "leaf-hillside", ssh={"key_file": "secrets/other_ed25519"}, chanel=3)
    problems = _problems(example_copy)
    assert len(problems) == 1 and "chanel" in problems[0]


def test_keys_are_recognised_behind_options_and_comments() -> None:
    text = f'# staff\nno-pty,command="uptime" {OTHER_KEY}\n\n{LAB_KEY}\n'
    assert key_ids(text) == {
        tuple(OTHER_KEY.split()[:2]),
        tuple(LAB_KEY.split()[:2]),
    }


def test_a_public_key_file_holds_exactly_one_key(tmp_path: Path) -> None:
    one, two = tmp_path / "one.pub", tmp_path / "two.pub"
    one.write_text(LAB_KEY + "\n")
    two.write_text(f"{LAB_KEY}\n{OTHER_KEY}\n")
    assert read_public_key(one) == tuple(LAB_KEY.split()[:2])
    assert read_public_key(two) is None
    assert read_public_key(tmp_path / "missing.pub") is None


def test_reference_check_accepts_any_zone_and_checks_aliases() -> None:
    from controller.render.xref import reference_problems

    network = Package(
        "network",
        [
            Section("interface", "wan", {"device": "wan", "proto": "dhcp"}),
            Section("interface", "wan6", {"device": "@wan", "proto": "dhcpv6"}),
            Section("interface", "wan26", {"device": "@wan2", "proto": "dhcpv6"}),
        ],
    )
    fw = Package(
        "firewall",
        [
            Section("zone", "wan", {"name": "wan", "network": ["wan", "wan6"]}),
            Section("rule", "r", {"src": "wan", "dest": "*", "target": "ACCEPT"}),
        ],
    )
    drop = Package("dropbear", [Section("dropbear", "main", {"Port": "22"})])
    assert reference_problems({"network": network, "firewall": fw, "dropbear": drop}) == [
        "interface wan26 is an alias of missing interface 'wan2'"
    ]
