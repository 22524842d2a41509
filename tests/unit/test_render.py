"""Rendering the example network: golden bytes, meaning, and what must never happen."""

from __future__ import annotations

import ipaddress
import json
import stat
from pathlib import Path

import pytest
import yaml

from controller.errors import MeshkeeperError
from controller.model.inventory import Inventory
from controller.model.load import load_inventory
from controller.render.tree import RenderedFile, render_inventory, write_tree
from controller.render.xref import reference_problems
from controller.uci import Package, Section, emit, parse
from tests.conftest import LAB_KEY, LAB_RSA_KEY

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "render"


def _load(folder: Path) -> Inventory:
    return load_inventory(folder, resolve_secrets=True)


def _uci(files: list[RenderedFile], package: str) -> Package:
    data = next(f.data for f in files if f.path == f"etc/config/{package}")
    return parse(data.decode("utf-8"), package=package, source=package)


def _named(pkg: Package, name: str) -> Section:
    found = pkg.section(name)
    assert found is not None, f"{pkg.name} has no section {name!r}"
    return found


def test_golden_files_for_every_example_node(example_copy: Path, update_goldens: bool) -> None:
    rendered = render_inventory(_load(example_copy))
    if not update_goldens:
        assert sorted(rendered) == sorted(p.name for p in GOLDEN.iterdir())
    for node, files in rendered.items():
        for file in files:
            golden = GOLDEN / node / file.path
            if update_goldens:
                golden.parent.mkdir(parents=True, exist_ok=True)
                golden.write_bytes(file.data)
                continue
            assert golden.read_bytes() == file.data, (
                f"{node}/{file.path} differs from its golden file; if the change is intended, "
                "run `.venv/bin/pytest tests/unit/test_render.py --update-goldens`"
            )
        expected = sorted(
            str(p.relative_to(GOLDEN / node)) for p in (GOLDEN / node).rglob("*") if p.is_file()
        )
        assert expected == sorted(f.path for f in files)


def test_every_uci_file_is_what_libuci_would_write_back(example_copy: Path) -> None:
    for node, files in render_inventory(_load(example_copy)).items():
        for file in files:
            if not file.path.startswith("etc/config/"):
                continue
            package = file.path.rsplit("/", 1)[1]
            text = file.data.decode("utf-8")
            parsed = parse(text, package=package, source=f"{node}/{file.path}")
            assert emit(parsed) == text  # already in `uci commit` form: nothing to normalise


def test_cross_references_hold(example_copy: Path) -> None:
    for files in render_inventory(_load(example_copy)).values():
        packages = {
            f.path.rsplit("/", 1)[1]: _uci(files, f.path.rsplit("/", 1)[1])
            for f in files
            if f.path.startswith("etc/config/")
        }
        assert reference_problems(packages) == []


def test_reference_check_catches_broken_references() -> None:
    network = Package("network", [Section("interface", "lan", {"proto": "static"})])
    firewall = Package(
        "firewall",
        [
            Section("zone", "mesh", {"name": "mesh", "network": ["mesh"]}),
            Section("forwarding", "x", {"src": "lan", "dest": "mesh"}),
        ],
    )
    wireless = Package(
        "wireless", [Section("wifi-iface", "ap", {"device": "radio9", "network": "lan"})]
    )
    bat = Package(
        "network",
        [
            Section("interface", "hard", {"proto": "batadv_hardif", "master": "bat0"}),
        ],
    )
    problems = reference_problems({"network": network, "firewall": firewall, "wireless": wireless})
    assert problems == [
        "firewall zone mesh names missing network 'mesh'",
        "firewall forwarding x names missing zone 'lan'",
        "wifi-iface ap is on missing radio 'radio9'",
    ]
    assert reference_problems({"network": bat}) == [
        "batadv_hardif hard has no batadv master 'bat0'"
    ]


def test_mesh_settings_identical_on_every_mesh_node(example_copy: Path) -> None:
    inv = _load(example_copy)
    seen = set()
    for files in render_inventory(inv).values():
        mesh = _named(_uci(files, "wireless"), "mesh0").options
        radio = _named(_uci(files, "wireless"), str(mesh["device"])).options
        seen.add(
            (
                mesh["mesh_id"],
                mesh["key"],
                mesh["encryption"],
                mesh["mesh_fwding"],
                radio["channel"],
                radio["band"] if "band" in radio else radio["hwmode"],
            )
        )
    key = (example_copy / "secrets" / "mesh.key").read_text().strip()
    assert seen <= {
        ("riverside-mesh", key, "sae", "0", "36", "5g"),
        ("riverside-mesh", key, "sae", "0", "36", "11a"),
    }
    assert len({s[:5] for s in seen}) == 1


def test_planned_addresses_appear_where_they_must(example_copy: Path) -> None:
    inv = _load(example_copy)
    rendered = render_inventory(inv)
    for name, files in rendered.items():
        plan = inv.plan[name]
        network = _uci(files, "network")
        assert _named(network, "mesh").options["ipaddr"] == str(plan.mesh_address)
        lan = _named(network, "lan").options
        assert (
            ipaddress.IPv4Interface(f"{lan['ipaddr']}/{lan['netmask']}").network == plan.lan_subnet
        )
        filters = {
            s.options["ip"]
            for s in _uci(files, "babeld").sections
            if s.type == "filter" and s.options.get("action") == "allow"
        }
        assert {str(plan.lan_subnet), f"{plan.mesh_address}/32"} <= filters
        agent = json.loads(next(f.data for f in files if f.path.endswith("agent.json")))
        assert agent["listen"] == {
            "address": str(plan.management),
            "port": 9110,
            "trusted": [str(inv.noc.address)],
        }
        expected = {n: str(inv.plan[n].mesh_address) for n in inv.neighbours()[name]}
        assert {n["name"]: n["address"] for n in agent["neighbours"]} == expected
    entry = _uci(rendered["gw-market"], "network")
    assert _named(entry, "noc_host").options["target"] == inv.noc.address
    for name, files in rendered.items():
        dns = _uci(files, "dhcp").sections[0].options
        if inv.nodes[name].role != "gateway":
            assert dns["server"] == ["10.31.0.1", "10.31.0.2"]  # the gateways' mesh addresses


def test_release_generations(example_copy: Path) -> None:
    rendered = render_inventory(_load(example_copy))
    old = _uci(rendered["leaf-library"], "network")  # 19.07: swconfig, option ifname
    assert _named(old, "lan").options["ifname"] == "eth0.1"
    assert _named(old, "switch0_vlan2").options["ports"] == "0t 1"
    assert all(s.type != "device" for s in old.sections)
    assert _named(_uci(rendered["leaf-library"], "wireless"), "radio1").options["hwmode"] == "11a"
    new = _uci(rendered["gw-school"], "network")  # 24.10: DSA devices
    assert _named(new, "br_lan").options["ports"] == ["lan1"]
    assert _named(new, "lan").options["device"] == "br-lan"
    assert _named(_uci(rendered["gw-school"], "wireless"), "radio1").options["band"] == "5g"


def test_firewall_keeps_ssh_and_agent_off_the_lan(example_copy: Path) -> None:
    for files in render_inventory(_load(example_copy)).values():
        rules = {s.name: s.options for s in _uci(files, "firewall").sections if s.type == "rule"}
        assert rules["block_ssh_from_lan"] == {
            "name": "Block-ssh-from-LAN",
            "src": "lan",
            "proto": "tcp",
            "dest_port": "22",
            "target": "REJECT",
        }
        assert rules["block_agent_from_lan"]["dest_port"] == "9110"
        assert rules["allow_ssh_from_mesh"]["src"] == "mesh"
        # One listener on every address, as stock: an `Interface` without a device of its
        # own (babel's `mesh`) would leave dropbear listening nowhere. The firewall fences.
        dropbear = _uci(files, "dropbear")
        assert [(s.type, s.name, s.options) for s in dropbear.sections] == [
            (
                "dropbear",
                "main",
                {"PasswordAuth": "off", "RootPasswordAuth": "off", "RootLogin": "1", "Port": "22"},
            )
        ]


def test_modes_and_secrets(example_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, render_inventory(_load(example_copy)), prune=True)
    mode = lambda p: stat.S_IMODE((out / p).stat().st_mode)  # noqa: E731
    assert mode("gw-market/etc/config/wireless") == 0o600  # holds the Wi-Fi keys
    assert mode("gw-market/etc/dropbear/authorized_keys") == 0o600
    assert mode("gw-market/etc/config/network") == 0o644
    assert (out / "gw-market/etc/dropbear/authorized_keys").read_text() == (
        f"{LAB_KEY}\n{LAB_RSA_KEY}\n"
    )


def test_same_inventory_same_bytes_and_local_changes(example_copy: Path) -> None:
    first = render_inventory(_load(example_copy))
    assert render_inventory(_load(example_copy)) == first
    nodes = example_copy / "nodes.yaml"
    nodes.write_text(
        nodes.read_text().replace(
            "description: Hillside houses", "description: Hillside houses\n    model: X1"
        )
    )
    second = render_inventory(_load(example_copy))
    changed = {n for n in first if first[n] != second[n]}
    assert changed == {"leaf-hillside"}
    with nodes.open("a") as handle:  # a new link changes exactly its two ends
        handle.write("  - {a: leaf-library, b: leaf-riverbank}\n")
    third = render_inventory(_load(example_copy))
    assert {n for n in second if second[n] != third[n]} == {"leaf-library", "leaf-riverbank"}


HOSTILE = [
    'Bob\'s "Cafe"',
    "$(reboot)",
    "`rm -rf /`",
    "a; reboot; b",
    "back\\slash\\'",
    "Café Nǎirōbi 📶",
    "'\\''",
    "--help",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_survive_as_data(example_copy: Path, value: str) -> None:
    """No inventory value is ever code: quotes, $(...), backticks, ; and \\ stay text."""
    path = example_copy / "nodes.yaml"
    data = yaml.safe_load(path.read_text())
    market = data["nodes"]["gw-market"]
    market["access_points"][0]["ssid"] = value[:10]
    market["model"] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    # A WPA passphrase is printable ASCII (controller/secrets.py): others keep the lab's.
    passphrase = f"{value}-pad-to-8" if value.isascii() else "staff-only-lab-passphrase"
    (example_copy / "secrets" / "staff-wifi.key").write_text(f"{passphrase}\n")
    files = render_inventory(_load(example_copy))["gw-market"]
    wireless = _uci(files, "wireless")
    assert _named(wireless, "ap0_radio0").options["ssid"] == value[:10]
    assert _named(wireless, "ap1_radio0").options["key"] == passphrase
    agent = json.loads(next(f.data for f in files if f.path.endswith("agent.json")))
    assert agent["model"] == value


def test_no_shell_anywhere_in_the_project() -> None:
    """Values reach routers as file bytes only: nothing builds a shell command line."""
    root = Path(__file__).resolve().parent.parent.parent
    sources = [p for d in ("controller", "agent", "lab") for p in (root / d).rglob("*.py")]
    assert sources
    for source in sources:
        text = source.read_text(encoding="utf-8")
        for banned in ("shell=True", "os.system(", "os.popen(", "exec_command(f"):
            assert banned not in text, f"{source}: {banned}"


def test_write_tree_refuses_a_foreign_directory_and_prunes_its_own(
    example_copy: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    rendered = render_inventory(_load(example_copy))
    with pytest.raises(MeshkeeperError, match="not made by meshkeeper render"):
        write_tree(foreign, rendered, prune=True)
    assert (foreign / "keep.txt").read_text() == "mine"
    out = tmp_path / "out"
    assert len(write_tree(out, rendered, prune=True)) == 72
    assert write_tree(out, rendered, prune=True) == []  # nothing changed, nothing rewritten
    (out / "old-node" / "etc").mkdir(parents=True)
    (out / "old-node" / "etc" / "x").write_text("stale")
    only = {"gw-market": rendered["gw-market"]}
    assert write_tree(out, only, prune=False) == []  # a partial render prunes nothing
    assert write_tree(out, rendered, prune=True) == ["old-node/ (removed)"]


def test_batman_adv_network(example_copy: Path) -> None:
    network_file = example_copy / "network.yaml"
    network_file.write_text(
        network_file.read_text().replace("protocol: babel ", "protocol: batman-adv ")
    )
    nodes = example_copy / "nodes.yaml"
    nodes.write_text(nodes.read_text().replace('release: "19.07"', 'release: "21.02"'))
    inv = _load(example_copy)
    rendered = render_inventory(inv)
    leaf = rendered["leaf-riverbank"]
    network = _uci(leaf, "network")
    assert _named(network, "bat0").options == {
        "proto": "batadv",
        "routing_algo": "BATMAN_IV",
        "gw_mode": "client",
        "bridge_loop_avoidance": "1",
    }
    assert _named(network, "batmesh").options["master"] == "bat0"
    assert _named(network, "mesh").options == {
        "device": "bat0",
        "proto": "static",
        "ipaddr": "10.31.0.7",
        "netmask": "255.255.0.0",
    }
    # riverbank → water tower → gw-school is 2 hops; gw-market is 3.
    assert _named(network, "default_via_mesh").options["gateway"] == "10.31.0.2"
    assert _named(network, "lan_gw_market").options["target"] == "10.32.1.0"
    assert _named(_uci(leaf, "wireless"), "mesh0").options["network"] == "batmesh"
    assert all(not f.path.endswith("/babeld") for f in leaf)
    assert _named(_uci(rendered["gw-market"], "network"), "bat0").options["gw_mode"] == "server"
    for files in rendered.values():
        packages = {
            f.path.rsplit("/", 1)[1]: _uci(files, f.path.rsplit("/", 1)[1])
            for f in files
            if f.path.startswith("etc/config/")
        }
        assert reference_problems(packages) == []
