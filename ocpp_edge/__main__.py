"""`python -m ocpp_edge` / `csms-edge`: run one edge process until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

import uvloop

from csms.logs import configure_logging
from csms.settings import load_settings
from ocpp_edge.server import Edge
from ocpp_edge.settings import EdgeSettings


async def _run(settings: EdgeSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    edge = Edge(settings)
    await edge.start()
    try:
        await stop.wait()
    finally:
        await edge.stop()


def main() -> None:
    settings = load_settings(EdgeSettings)
    configure_logging(settings.log_level, settings.log_format, service="edge")
    if settings.event_loop == "uvloop":
        uvloop.run(_run(settings))
    else:
        asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
