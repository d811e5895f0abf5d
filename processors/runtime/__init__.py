"""The processor runtime: one consume loop for every processor, exactly once into its store.

Public surface: declare a `ProcessorSpec`, write handlers `async def h(event: Event, uow: UnitOfWork)`, and call
`run_forever(spec, settings)` from the processor's `__main__`.
"""

from processors.runtime.commands import Command, CommandRejected, answer, command_handler, read_command
from processors.runtime.events import BatchHandler, Emitted, Event, Handler, UnitOfWork
from processors.runtime.ocpp_events import OcppExchange, exchange, skip_ocpp
from processors.runtime.runner import Consumer, is_transient
from processors.runtime.service import ProcessorSettings, Running, run_forever, serve
from processors.runtime.spec import ProcessorSpec
from processors.runtime.store import (
    create_runtime_tables,
    downgrade_runtime_tables_v2,
    drop_runtime_tables,
    upgrade_runtime_tables_v2,
)

__all__ = [
    "BatchHandler",
    "Command",
    "CommandRejected",
    "Consumer",
    "Emitted",
    "Event",
    "Handler",
    "OcppExchange",
    "ProcessorSettings",
    "ProcessorSpec",
    "Running",
    "UnitOfWork",
    "answer",
    "command_handler",
    "create_runtime_tables",
    "downgrade_runtime_tables_v2",
    "drop_runtime_tables",
    "exchange",
    "is_transient",
    "read_command",
    "run_forever",
    "serve",
    "skip_ocpp",
    "upgrade_runtime_tables_v2",
]
