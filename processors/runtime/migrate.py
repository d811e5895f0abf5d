"""Alembic, per store: each processor has `migrations/` whose env.py calls `run_env(metadata)`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def async_url(url: str) -> str:
    """Accept `postgresql://` URLs and select the asyncpg driver."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain):]
    return url


def alembic_config(database_url: str, script_location: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("version_path_separator", "os")
    cfg.attributes["database_url"] = async_url(database_url)
    return cfg


def upgrade(database_url: str, script_location: Path, revision: str = "head") -> None:
    """Run `alembic upgrade` (blocking; call through `asyncio.to_thread` from async code)."""
    command.upgrade(alembic_config(database_url, script_location), revision)


def run_env(target_metadata: Any) -> None:
    """The body of every store's `migrations/env.py`."""
    from alembic import context

    url = context.config.attributes.get("database_url") or context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def online() -> None:
        engine = create_async_engine(str(url), poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(migrate)
        await engine.dispose()

    asyncio.run(online())


def downgrade(database_url: str, script_location: Path, revision: str) -> None:
    """Run `alembic downgrade` (blocking; tests and operators rolling a store back)."""
    command.downgrade(alembic_config(database_url, script_location), revision)
