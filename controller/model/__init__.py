"""The inventory: pydantic models, strict located loading, planning and checks."""
