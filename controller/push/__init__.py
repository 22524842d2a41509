"""Push: diff first, topology order, apply with rollback, never a bricked router.

plan.py      what each node needs (rendered tree, its hash) and in which order
remote.py    the fixed shell scripts that run on the router (rollback watchdog, apply)
node.py      one node's protocol: stage, verify, back up, arm, install, apply, confirm
run.py       many nodes: waves by depth, concurrency, canary, skipping behind failures
state.py     .meshkeeper/state.db: per-node generation, hashes, status, history
"""
