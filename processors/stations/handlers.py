"""The stations processor's handler tables (grep here to see what the processor reacts to)."""

from __future__ import annotations

from processors.runtime import BatchHandler, Handler, command_handler
from processors.stations.commands import COMMANDS
from processors.stations.connectivity import apply_connection
from processors.stations.live import apply_ocpp_batch

HANDLERS: dict[str, list[Handler]] = {
    "csms.ocpp.ConnectionEvent": [apply_connection],
    "csms.common.Command": [command_handler("stations", COMMANDS)],
}
BATCH_HANDLERS: dict[str, BatchHandler] = {
    "csms.ocpp.OcppMessage": apply_ocpp_batch,
}
