"""The practice lab: the inventory's network emulated in Linux network namespaces."""
