"""Push logic without routers: order, archive, diff, state, lock."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from controller.errors import MeshkeeperError
from controller.model.load import load_inventory
from controller.push.diff import diff_node
from controller.push.node import RouterView
from controller.push.order import cut_off, depths, waves
from controller.push.plan import (
    Difference,
    NodeChange,
    differences,
    expected_checksums,
    stage_archive,
    target_for,
    tree_hash,
)
from controller.push.run import push_lock, select
from controller.push.state import StateStore
from controller.render.tree import RenderedFile, render_inventory


def test_waves_go_deepest_first_and_the_entry_last(example_copy: Path) -> None:
    inv = load_inventory(example_copy)
    adjacency = inv.neighbours()
    assert depths(adjacency, "gw-market")["leaf-library"] == 3
    order = waves(adjacency, "gw-market", inv.nodes)
    assert order == [
        ["leaf-hillside", "leaf-library", "leaf-riverbank"],
        ["relay-water-tower"],
        ["gw-school", "leaf-bus-stop", "relay-clinic"],
        ["gw-market"],
    ]


def test_a_failed_relay_cuts_off_what_is_behind_it(example_copy: Path) -> None:
    inv = load_inventory(example_copy)
    adjacency = inv.neighbours()
    behind = cut_off(adjacency, "gw-market", {"relay-water-tower"}, inv.nodes)
    assert behind == {"leaf-hillside", "leaf-library", "leaf-riverbank"}
    assert cut_off(adjacency, "gw-market", {"leaf-library"}, inv.nodes) == set()
    assert cut_off(adjacency, "gw-market", {"gw-market"}, ["a", "b"]) == {"a", "b"}


def test_unreachable_nodes_come_last_alone() -> None:
    adjacency = {"e": {"a"}, "a": {"e"}, "island": set()}
    assert waves(adjacency, "e", ["e", "a", "island"]) == [["a"], ["e"], ["island"]]


def _files() -> list[RenderedFile]:
    return [
        RenderedFile("etc/config/network", b"config interface 'lan'\n", 0o644),
        RenderedFile("etc/config/wireless", b"secret\n", 0o600),
    ]


def test_tree_hash_depends_on_content_mode_and_path() -> None:
    base = tree_hash(_files())
    assert tree_hash(list(reversed(_files()))) == base
    changed = [_files()[0], RenderedFile("etc/config/wireless", b"secret\n", 0o644)]
    assert tree_hash(changed) != base


def test_stage_archive_carries_files_and_the_watchdog(example_copy: Path) -> None:
    inv = load_inventory(example_copy)
    change = NodeChange("n", tuple(_files()), tree_hash(_files()), target_for(inv, "gw-market"))
    archive = stage_archive(
        change, 7, previously=["etc/config/babeld", "etc/config/network"], listen=change.target
    )
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = {m.name: m for m in tar.getmembers()}
        assert names["etc/config/wireless"].mode == 0o600
        read = lambda n: tar.extractfile(names[n]).read().decode()  # type: ignore[union-attr]  # noqa: E731
        assert read("meshkeeper/remove") == "etc/config/babeld\n"  # no longer rendered
        assert '"generation": 7' in read("meshkeeper/applied.json")
        assert "rollback.sh boot" in read("meshkeeper/rollback.sh")
        assert "settled" in read("meshkeeper/apply.sh")
        # gw-market's management address 10.31.0.1, port 22, as /proc/net/tcp prints it
        assert read("meshkeeper/listen") == "01001F0A 0A1F0001 0016\n"
    sums = expected_checksums(archive)
    assert "./etc/config/network" in sums and len(sums) == len(names)


def test_target_uses_the_management_address_and_key(example_copy: Path) -> None:
    inv = load_inventory(example_copy)
    target = target_for(inv, "leaf-library")
    assert target.host == "10.31.0.6"
    assert target.legacy_rsa is True
    assert target.key_file == (example_copy.parent / ".meshkeeper/lab/controller_rsa")


def test_diff_is_semantic_and_redacts_secrets() -> None:
    rendered = [
        RenderedFile(
            "etc/config/wireless",
            b"\nconfig wifi-iface 'mesh0'\n\toption key 'new-secret-123'\n"
            b"\toption mesh_id 'm'\n\nconfig wifi-device 'radio1'\n"
            b"\toption channel '36'\n\n",
            0o600,
        ),
        RenderedFile("etc/config/system", b"\nconfig system\n\toption hostname 'a'\n\n", 0o644),
    ]
    router = {
        "etc/config/wireless": b"config wifi-iface 'mesh0'\n option key old-secret-999\n"
        b" option mesh_id m\nconfig wifi-iface 'extra'\n",
        "etc/config/system": b"config system\n\toption hostname 'a'\n",
    }
    diff = diff_node("gw", rendered, router)
    text = "\n".join(f"{k} {t}" for k, t in diff.lines)
    assert "+ wireless: wifi-device 'radio1'" in text
    assert "- wireless: wifi-iface 'extra'" in text
    assert "~ wireless: wifi-iface 'mesh0'.key: <secret changed>" in text
    assert "secret-123" not in text and "secret-999" not in text
    assert "system" not in text  # same meaning (whitespace and quotes aside): in sync
    broken = diff_node("gw", rendered[1:], {"etc/config/system": b"config 'x\n"})
    assert broken.lines[0][0] == "!"


def test_state_store_records_status_and_history(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        store.set_rendered("a", "h1")
        store.set_status("a", "applied", generation=3, applied_hash="h1")
        store.record_push("a", 1.0, 2.0, "applied", 3, ["network"], None)
        with pytest.raises(ValueError, match="unknown node status"):
            store.set_status("a", "bricked")
    with StateStore(tmp_path / "state.db") as store:  # survives a new process
        (state,) = store.nodes()
        assert (state.status, state.generation, state.applied_hash) == ("applied", 3, "h1")
        assert store.history("a")[0]["changes"] == '["network"]'


def test_two_pushes_cannot_run_at_once(tmp_path: Path) -> None:
    with (
        push_lock(tmp_path),
        pytest.raises(MeshkeeperError, match="another push is running"),
        push_lock(tmp_path),
    ):
        pass
    with push_lock(tmp_path):  # released
        pass


def test_select_by_glob(example_copy: Path) -> None:
    inv = load_inventory(example_copy)
    assert select(inv, ("leaf-*",)) == [
        "leaf-bus-stop",
        "leaf-hillside",
        "leaf-library",
        "leaf-riverbank",
    ]
    with pytest.raises(MeshkeeperError, match="matches no node"):
        select(inv, ("nope*",))


def test_render_inventory_for_push_is_complete(example_copy: Path) -> None:
    files = render_inventory(load_inventory(example_copy))["gw-market"]
    assert {f.path for f in files} >= {"etc/config/network", "etc/meshkeeper/agent.json"}


_NET = "etc/config/network"


def test_differences_is_the_one_test_of_in_sync(example_copy: Path) -> None:
    inv = load_inventory(example_copy)
    files = tuple(_files())
    change = NodeChange("n", files, tree_hash(files), target_for(inv, "gw-market"))
    sums = {f.path: hashlib.sha256(f.data).hexdigest() for f in files}
    held = RouterView(generation=3, tree_hash=change.tree_hash, sums=dict(sums))
    assert differences(change, held) == []
    edited = RouterView(tree_hash=change.tree_hash, sums={**sums, _NET: "0"})
    assert differences(change, edited) == [Difference("bytes", _NET)]
    gone = RouterView(tree_hash=change.tree_hash, sums={_NET: sums[_NET]})
    assert differences(change, gone) == [Difference("missing", "etc/config/wireless")]
    waiting = RouterView(tree_hash=change.tree_hash, sums=dict(sums), pending="gen-2.tar")
    assert differences(change, waiting) == [Difference("unconfirmed")]
    other = RouterView(tree_hash="another render", sums=dict(sums))
    assert differences(change, other) == [Difference("record")]


def test_applied_json_names_secret_files_without_their_hash(example_copy: Path) -> None:
    inv = load_inventory(example_copy)
    change = NodeChange("n", tuple(_files()), tree_hash(_files()), target_for(inv, "gw-market"))
    archive = stage_archive(change, 2, previously=[], listen=change.target)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.getmember("meshkeeper/applied.json")
        record = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
    assert member.mode == 0o600
    assert record["files"]["etc/config/wireless"] is None  # written 0600: holds a secret
    assert record["files"][_NET] == hashlib.sha256(b"config interface 'lan'\n").hexdigest()
    assert record["hash"] == change.tree_hash
