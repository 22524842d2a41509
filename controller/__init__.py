"""meshkeeper controller: inventory, render, push, NOC configuration."""

__version__ = "0.1.0"
