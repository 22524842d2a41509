"""Generate a large synthetic inventory (one directory) for the benchmarks.

    python bench/gen_network.py OUT_DIR --nodes 10000
    python bench/gen_network.py --smoke      (20 nodes into a temporary directory)

Nodes are spread over profiles like a real network (gateways every 100 nodes,
relays, leaves with access points), linked as a tree with extra cross links.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

# A well-formed ed25519 public key (its 32 key bytes are 0..31): nobody holds its private half.
BENCH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f bench"
RELEASES = ("19.07", "21.02", "22.03", "23.05", "24.10")


def network(count: int) -> dict[str, object]:
    return {
        "network": {"name": "bench", "country": "KE", "timezone": "Africa/Nairobi"},
        "mesh": {
            "protocol": "babel",
            "mesh_id": "bench-mesh",
            "key": {"file": "mesh.key"},
            "band": "5g",
            "channel": 36,
            "htmode": "VHT40",
        },
        "addressing": {"mesh": "10.64.0.0/16", "lan": "10.128.0.0/9", "lan_prefix": 25},
        "isps": {"isp-a": {}, "isp-b": {}},
        "probes": {
            "interval": 60,
            "tiers": {
                "international": [
                    {"name": "intl", "address": "198.18.0.53", "kinds": ["icmp", "dns"]}
                ],
            },
        },
        "noc": {"address": "10.64.255.250", "entry": "node-00001"},
        "defaults": {
            "release": "23.05",
            "radios": {
                "radio0": {"band": "2g", "channel": 6, "htmode": "HT20"},
                "radio1": {"band": "5g", "htmode": "VHT40"},
            },
            "mesh": {"radio": "radio1"},
            "access_points": [{"ssid": "Community", "radios": ["radio0"]}],
            "lan": {"ports": ["lan1", "lan2"]},
            "ssh": {"authorized_keys": [BENCH_KEY]},
        },
        "profiles": {
            "gateway": {"role": "gateway"},
            "relay": {"role": "relay", "access_points": []},
            "leaf": {"role": "leaf"},
        },
    }


def nodes(count: int) -> tuple[dict[str, object], list[dict[str, str]]]:
    out: dict[str, object] = {}
    links = []
    for i in range(1, count + 1):
        name = f"node-{i:05d}"
        node: dict[str, object] = {"id": i, "release": RELEASES[i % len(RELEASES)]}
        if i % 100 == 1:
            node["profile"] = "gateway"
            node["uplinks"] = [{"isp": "isp-a" if i % 200 == 1 else "isp-b", "proto": "dhcp"}]
        else:
            node["profile"] = "relay" if i % 7 == 0 else "leaf"
            gateway = i - (i - 1) % 100  # each block of 100 hangs off its gateway as a tree
            parent = gateway + (i - gateway - 1) // 3
            links.append({"a": f"node-{parent:05d}", "b": name})
            cross = i - 3
            if i % 5 == 0 and cross > gateway and cross != parent:
                links.append({"a": f"node-{cross:05d}", "b": name})
        out[name] = node
    return out, links


def write(out: Path, count: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "mesh.key").write_text("bench-mesh-key-1234\n", encoding="utf-8")
    (out / "network.yaml").write_text(yaml.safe_dump(network(count), sort_keys=False))
    node_map, links = nodes(count)
    (out / "nodes.yaml").write_text(
        yaml.safe_dump({"nodes": node_map, "links": links}, sort_keys=False)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--smoke", action="store_true", help="20 nodes into a temporary dir")
    args = parser.parse_args()
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write(Path(tmp), 20)
            size = sum(p.stat().st_size for p in Path(tmp).iterdir())
            print(f"generated 20 nodes, {size} bytes, in {time.perf_counter() - start:.3f} s")
        return
    if args.out is None:
        parser.error("OUT_DIR is required (or --smoke)")
    write(args.out, args.nodes)


if __name__ == "__main__":
    main()
