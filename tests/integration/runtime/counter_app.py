"""A minimal processor on the real runtime, used by the runtime's integration tests and by bench/.

It keeps a balance per account from `csms.test.Amount` events (a simple batched upsert), emits one
`csms.test.Applied` event per input through the outbox, and fails on purpose for account "poison".
Run as a process: `python tests/integration/runtime/counter_app.py` (settings from CSMS_COUNTER_* env).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
from pydantic_settings import SettingsConfigDict

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from processors.runtime import Event, ProcessorSettings, ProcessorSpec, UnitOfWork, serve  # noqa: E402
from schemas import AvroCodec, SchemaCatalog, TopicCatalog, TopicSpec, load_topics  # noqa: E402
from schemas.catalog import SCHEMA_ROOT  # noqa: E402

INPUT, OUTPUT = "test.amounts", "test.applied"


class CounterSettings(ProcessorSettings):
    model_config = SettingsConfigDict(env_prefix="CSMS_COUNTER_", env_nested_delimiter="__", extra="ignore")
    slow_ms: int = 0


def catalog() -> SchemaCatalog:
    return SchemaCatalog.load([SCHEMA_ROOT, HERE / "schemas"])


def topics() -> TopicCatalog:
    base = load_topics()
    extra = (
        TopicSpec(INPUT, "account", 3, "delete", 86_400_000, "csms.test.Amount"),
        TopicSpec(OUTPUT, "account", 3, "delete", 86_400_000, "csms.test.Applied"),
    )
    return TopicCatalog(base.specs + extra)


_UPSERT = sa.text(
    """
    insert into balances (account, balance, applied)
    select a, sum(x), count(*) from unnest(cast(:accounts as text[]), cast(:amounts as bigint[])) as t(a, x)
    group by a
    on conflict (account) do update
      set balance = balances.balance + excluded.balance, applied = balances.applied + excluded.applied
    returning account, balance
    """
)


def make_handler(slow_ms: int, emit: bool = True):  # type: ignore[no-untyped-def]
    async def apply_amounts(events: Sequence[Event], uow: UnitOfWork) -> None:
        values = [e.value for e in events if e.value is not None]
        if any(v["account"] == "poison" for v in values):
            raise ValueError("account 'poison' is refused on purpose")
        result = await uow.conn.execute(
            _UPSERT, {"accounts": [v["account"] for v in values], "amounts": [v["amount"] for v in values]}
        )
        balances = {row.account: row.balance for row in result}
        for event in events if emit else ():
            assert event.value is not None
            account = event.value["account"]
            uow.emit(OUTPUT, account, "csms.test.Applied",
                     {"source_event_id": event.event_id, "account": account, "balance": balances[account]})
        if slow_ms:
            await asyncio.sleep(slow_ms / 1000)

    return apply_amounts


def spec(slow_ms: int = 0, emit: bool = True, skip: Callable[[Sequence[tuple[str, bytes]]], bool] | None = None,
         ) -> ProcessorSpec:
    return ProcessorSpec(
        name="counter",
        topics=[INPUT],
        batch_handlers={"csms.test.Amount": make_handler(slow_ms, emit)},
        migrations=HERE / "counter_migrations",
        skip=skip,
    )


async def main() -> None:
    import signal

    from csms.logs import configure_logging
    from csms.settings import load_settings

    settings = load_settings(CounterSettings)
    configure_logging(settings.log_level, settings.log_format, service="counter")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(spec(settings.slow_ms), settings, stop, topics=topics(), codec=AvroCodec(catalog()))


if __name__ == "__main__":
    asyncio.run(main())
