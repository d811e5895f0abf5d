"""`csms-read-api` / `python -m read_api`: serve the read API and the dashboard with uvicorn."""

from __future__ import annotations

import uvicorn

from csms.logs import configure_logging
from csms.settings import load_settings
from read_api.app import create_app
from read_api.settings import ApiSettings


def main() -> None:
    settings = load_settings(ApiSettings)
    configure_logging(settings.log_level, settings.log_format, service="read-api")
    app = create_app(settings)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False,
                proxy_headers=False, server_header=False, timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
