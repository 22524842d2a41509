"""`meshkeeper monitoring scrape`: ask every agent once, from the NOC, and summarise.

For an operator without Prometheus yet, or a responder checking quickly: is
each agent answering, on which config generation, and which expected links
does it see down. Prometheus remains the record; this is one look.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache

from prometheus_client.parser import text_string_to_metric_families

from controller.noc.targets import AgentTarget
from controller.push.health import unverified_tls
from controller.tables import table

LOCKED = "answers (needs a password)"


@dataclass
class AgentView:
    node: str
    target: str
    answer: str  # "ok", LOCKED, or why there is no reading

    @property
    def failing(self) -> bool:
        """No answer, or an expected link down."""
        return self.answer not in ("ok", LOCKED) or not all(self.links.values())

    generation: int | None = None
    links: dict[str, bool] = field(default_factory=dict)  # expected neighbour → up
    broken: list[str] = field(default_factory=list)  # collectors whose last run failed


def read_exposition(view: AgentView, text: str) -> AgentView:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "meshkeeper_link_up":
                view.links[sample.labels["neighbor"]] = sample.value == 1
            elif sample.name == "meshkeeper_config_generation":
                view.generation = int(sample.value)
            elif sample.name == "meshkeeper_collector_success" and sample.value != 1:
                view.broken.append(sample.labels["collector"])
    return view


@cache
def _opener() -> urllib.request.OpenerDirector:
    # Straight to the agents: an operator's http_proxy must not carry mesh addresses away.
    # One look, not a record: TLS agents are read without checking their certificate
    # (Prometheus, configured with the CA, is the one to trust their numbers).
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=unverified_tls())
    )


def scrape_one(target: AgentTarget, timeout: float = 3.0) -> AgentView:
    view = AgentView(target.node, target.host_port, "ok")
    url = f"{target.scheme}://{target.host_port}/metrics"
    try:
        with _opener().open(url, timeout=timeout) as answer:
            return read_exposition(view, answer.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        view.answer = LOCKED if exc.code == 401 else f"HTTP {exc.code}"
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # refused, timed out, not HTTP, cut mid-answer, not an exposition
        view.answer = f"no answer ({getattr(exc, 'reason', None) or exc!r})"
    return view


def scrape_all(targets: list[AgentTarget], timeout: float = 3.0) -> list[AgentView]:
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        return list(pool.map(lambda t: scrape_one(t, timeout), targets))


def summary_table(views: list[AgentView]) -> str:
    rows = [("NODE", "AGENT", "GENERATION", "LINKS UP", "DOWN", "FAILING COLLECTORS")]
    for v in views:
        up = sum(v.links.values())
        rows.append(
            (
                v.node,
                v.answer,
                "-" if v.generation is None else str(v.generation),
                f"{up}/{len(v.links)}" if v.answer == "ok" else "-",
                ", ".join(sorted(n for n, ok in v.links.items() if not ok)) or "-",
                ", ".join(sorted(v.broken)) or "-",
            )
        )
    return table(rows)
