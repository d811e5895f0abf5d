"""`python -m processors.stations` / `csms-stations`: run the stations processor until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal

import uvloop

from csms.logs import configure_logging
from csms.settings import load_settings
from processors.stations.bootstrap import run
from processors.stations.settings import StationsSettings


def main() -> None:
    """Read settings once, configure logs, run."""
    settings = load_settings(StationsSettings)
    configure_logging(settings.log_level, settings.log_format, service="stations")

    async def body() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    uvloop.run(body())  # libuv's event loop, the one asyncpg recommends


if __name__ == "__main__":
    main()
