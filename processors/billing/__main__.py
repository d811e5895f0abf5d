"""`csms-billing` / `python -m processors.billing`: the billing processor (port 3003)."""

from __future__ import annotations

import asyncio
import signal

import uvloop

from csms.logs import configure_logging
from csms.settings import load_settings
from processors.billing.bootstrap import run
from processors.billing.settings import BillingSettings


def main() -> None:
    """Run until SIGTERM/SIGINT."""
    settings = load_settings(BillingSettings)
    configure_logging(settings.log_level, settings.log_format, service="billing")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    uvloop.run(serve())  # libuv's event loop, the one asyncpg recommends


if __name__ == "__main__":
    main()
