"""`csms-monitoring`: run the monitoring processor until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import signal

import uvloop

from csms.logs import configure_logging
from csms.settings import load_settings
from processors.monitoring.service import run
from processors.monitoring.settings import MonitoringSettings


def main() -> None:
    """Entry point of the console script."""
    settings = load_settings(MonitoringSettings)
    configure_logging(settings.log_level, settings.log_format, service="monitoring")

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    uvloop.run(_main())  # libuv's event loop, the one asyncpg recommends


if __name__ == "__main__":
    main()
