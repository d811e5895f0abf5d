"""Composition root of the stations processor: its spec, and the process body (consumer + offline watch)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from processors.runtime import ProcessorSpec, Running, serve
from processors.runtime.ocpp_events import skip_ocpp
from processors.stations.connectivity import run_offline_watch
from processors.stations.handlers import BATCH_HANDLERS, HANDLERS
from processors.stations.settings import StationsSettings
from schemas import AvroCodec, load_topics

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TOPICS = ("ocpp.messages", "ocpp.connections", "stations.commands")


def spec(settings: StationsSettings | None = None) -> ProcessorSpec:
    """The stations processor for the runtime."""
    # charger CALLs carry nothing this processor applies (their answers do): skipped undecoded
    return ProcessorSpec(name="stations", topics=TOPICS, handlers=HANDLERS, batch_handlers=BATCH_HANDLERS,
                         migrations=MIGRATIONS, skip=skip_ocpp(["CALLRESULT", "CALLERROR"]))


async def run(settings: StationsSettings, stop: asyncio.Event) -> None:
    """Run the processor and, once it has started, the offline watch on its engine, until `stop` or a failure."""
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    serving = asyncio.create_task(serve(spec(settings), settings, stop, on_started=started.set_result),
                                  name="stations-serve")
    first: set[asyncio.Future[Any]] = {serving, started}
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        started.cancel()
        await serving
        return
    running = started.result()
    watch = asyncio.create_task(run_offline_watch(
        running.engine, AvroCodec(), load_topics().with_prefix(settings.kafka.topic_prefix), stop,
        interval_s=settings.offline_check_interval_s, missed=settings.offline_missed_heartbeats,
        grace_s=settings.offline_grace_s), name="stations-offline-watch")
    try:
        done, _ = await asyncio.wait([serving, watch], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        stop.set()
        await asyncio.gather(serving, watch, return_exceptions=True)
