"""`meshkeeper-agent`: runs on each router (collectors and the exporter arrive in issue 6)."""

from __future__ import annotations

import argparse

from agent import __version__


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="meshkeeper-agent", description="meshkeeper's per-router metrics agent"
    )
    parser.add_argument("--version", action="version", version=f"meshkeeper-agent {__version__}")
    parser.parse_args(argv)
    parser.print_help()
