"""The NOC side: what Prometheus scrapes, and (later) its rules and alerting."""
