"""The agent's errors, one root:

    AgentError              anything the agent reports to its operator
     ├── ConfigError        agent.json is missing, unreadable or invalid (exit 2)
     └── CollectorError     a collector could not read its source; the scheduler
                            records it as meshkeeper_collector_success 0 and goes on

`meshkeeper-agent` catches only AgentError, prints one line and exits non-zero.
"""

from __future__ import annotations


class AgentError(Exception):
    """Root of every error the agent reports."""


class ConfigError(AgentError):
    """The agent's config file is missing, unreadable or invalid."""

    def __init__(self, source: str, where: str, message: str) -> None:
        self.source = source
        self.where = where
        self.message = message
        place = f"{source}: {where}" if where else source
        super().__init__(f"{place}: {message}")


class CollectorError(AgentError):
    """A collector could not read what it measures (babeld down, no nl80211, ...)."""
