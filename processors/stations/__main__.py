"""`python -m processors.stations` / `csms-stations`: run the stations processor until SIGTERM/SIGINT."""

from __future__ import annotations

from csms.entry import run_until_signalled
from csms.logs import configure_logging
from csms.settings import load_settings
from processors.stations.bootstrap import run
from processors.stations.settings import StationsSettings


def main() -> None:
    """Read settings once, configure logs, run."""
    settings = load_settings(StationsSettings)
    configure_logging(settings.log_level, settings.log_format, service="stations")
    run_until_signalled(lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
