"""JSON Schema of one inventory file, for editors with a YAML language server.

Any file of the inventory is a fragment of the whole (files are merged, node
settings are layered), so nothing is `required` here; unknown keys are still
flagged, which is what catches typos while typing. pydantic remains the judge.
"""

from __future__ import annotations

import json
from typing import Any

from controller.model.schema import InventoryFile, Node

SCHEMA_ID = "https://meshkeeper.invalid/schema/inventory.json"


def inventory_schema() -> dict[str, Any]:
    schema = InventoryFile.model_json_schema()
    node = Node.model_json_schema()
    defs = schema.setdefault("$defs", {})
    defs.update(node.pop("$defs", {}))
    node_props = {k: v for k, v in node["properties"].items() if k != "name"}
    defs["NodeSettings"] = {
        "type": "object",
        "description": "A node's settings; in defaults and profiles, any subset of them.",
        "properties": node_props,
        "additionalProperties": False,
    }
    ref = {"$ref": "#/$defs/NodeSettings"}
    props = schema["properties"]
    props["defaults"] = {**ref, "description": "Settings every node starts from."}
    props["profiles"] = {
        "type": "object",
        "additionalProperties": ref,
        "description": "Named settings a node picks with `profile:`.",
    }
    props["nodes"] = {
        "type": "object",
        "additionalProperties": ref,
        "propertyNames": {"pattern": "^(?!-)[a-z0-9-]{1,63}(?<!-)$"},
        "description": "The routers, by hostname.",
    }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "meshkeeper inventory file"
    _drop_required(schema)
    return schema


def _drop_required(value: Any) -> None:
    if isinstance(value, dict):
        value.pop("required", None)
        for item in value.values():
            _drop_required(item)
    elif isinstance(value, list):
        for item in value:
            _drop_required(item)


def schema_text() -> str:
    return json.dumps(inventory_schema(), indent=2, sort_keys=True) + "\n"
