"""meshkeeper agent: runs on each router. Imports nothing from controller/."""

__version__ = "0.1.0"
