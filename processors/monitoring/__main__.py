"""`csms-monitoring`: run the monitoring processor until SIGTERM / SIGINT."""

from __future__ import annotations

from csms.entry import run_until_signalled
from csms.logs import configure_logging
from csms.settings import load_settings
from processors.monitoring.service import run
from processors.monitoring.settings import MonitoringSettings


def main() -> None:
    """Entry point of the console script."""
    settings = load_settings(MonitoringSettings)
    configure_logging(settings.log_level, settings.log_format, service="monitoring")
    run_until_signalled(lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
