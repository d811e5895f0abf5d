"""`python -m ocpp_edge` / `csms-edge`: run one edge process until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio

from csms.entry import run_until_signalled
from csms.logs import configure_logging
from csms.settings import load_settings
from ocpp_edge.server import Edge
from ocpp_edge.settings import EdgeSettings


async def _run(settings: EdgeSettings, stop: asyncio.Event) -> None:
    edge = Edge(settings)
    await edge.start()
    try:
        await stop.wait()
    finally:
        await edge.stop()


def main() -> None:
    settings = load_settings(EdgeSettings)
    configure_logging(settings.log_level, settings.log_format, service="edge")
    run_until_signalled(lambda stop: _run(settings, stop), loop=settings.event_loop)


if __name__ == "__main__":
    main()
