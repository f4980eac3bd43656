"""Kubernetes as the place where probes run: one agent (a Job running `chaosrun agent`) per region
that names its cluster, its samples read back through the API server's pod log.

`wire` (the plan and sample lines), `agent` (the process in the pod), `jobs` (the Job manifest,
create/delete, the ledger's undo), `follow` (the pod log stream), `fleet` (the agents of one run,
fed into the run's sampling).
"""
