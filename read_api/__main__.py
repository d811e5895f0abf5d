"""`csms-read-api` / `python -m read_api`: serve the read API and the dashboard with uvicorn.

With `CSMS_API_WORKERS` > 1, uvicorn runs that many worker processes on one listening socket; the parent migrates
the API's store once, then each worker builds its own app (`worker_app`) from the same environment. Every worker
is a complete API: its own pools, command-outcome consumer and live feed consumer (none uses a consumer group),
and webhook deliveries are claimed with `skip locked`, so workers never deliver twice.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import FastAPI

from csms.logs import configure_logging
from csms.settings import load_settings
from processors.runtime import migrate
from read_api.app import MIGRATIONS, create_app
from read_api.settings import ApiSettings


def _serve_options(settings: ApiSettings) -> dict[str, Any]:
    return {"host": settings.http_host, "port": settings.http_port, "log_config": None, "access_log": False,
            "proxy_headers": False, "server_header": False, "timeout_graceful_shutdown": 5}


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn imports this factory in each worker)."""
    settings = load_settings(ApiSettings, migrate_on_start=False)  # the parent has migrated
    configure_logging(settings.log_level, settings.log_format, service="read-api")
    return create_app(settings)


def main() -> None:
    settings = load_settings(ApiSettings)
    configure_logging(settings.log_level, settings.log_format, service="read-api")
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **_serve_options(settings))
        return
    if settings.migrate_on_start:
        migrate.upgrade(settings.database_url, MIGRATIONS)
    uvicorn.run("read_api.__main__:worker_app", factory=True, workers=settings.workers, **_serve_options(settings))


if __name__ == "__main__":
    main()
