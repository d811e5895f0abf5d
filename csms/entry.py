"""How every service process runs: one event loop until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Literal

import uvloop

EventLoop = Literal["uvloop", "asyncio"]


def run_until_signalled(body: Callable[[asyncio.Event], Awaitable[None]], *, loop: EventLoop = "uvloop") -> None:
    """Run `body(stop)` on a new event loop; SIGTERM and SIGINT set `stop`. uvloop by default (libuv's loop, the
    one asyncpg recommends); the edge lets operators choose (CSMS_EDGE_EVENT_LOOP)."""

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            running.add_signal_handler(sig, stop.set)
        await body(stop)

    if loop == "uvloop":
        uvloop.run(main())
    else:
        asyncio.run(main())
