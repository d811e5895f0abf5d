"""Every topic the edge reads or writes (logical names, declared in topics.yaml): what a deployment, a test or a
benchmark must create before an edge starts."""

from __future__ import annotations

EDGE_TOPICS = (
    "ocpp.messages", "ocpp.connections", "ocpp.commands", "ocpp.command-outcomes",  # OCPP both ways, commands
    "stations.registry", "auth.tokens", "auth.token-sessions",                      # the state it answers from
    "edge.txid-leases", "edge.presence", "edge.deliveries",                         # the edges' own coordination
)
