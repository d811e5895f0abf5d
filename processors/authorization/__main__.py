"""`python -m processors.authorization` / `csms-authorization`: run the processor until SIGTERM/SIGINT."""

from __future__ import annotations

from csms.logs import configure_logging
from csms.settings import load_settings
from processors.authorization.bootstrap import spec
from processors.authorization.settings import AuthorizationSettings
from processors.runtime import run_forever


def main() -> None:
    """Read settings once, configure logs, run."""
    settings = load_settings(AuthorizationSettings)
    configure_logging(settings.log_level, settings.log_format, service="authorization")
    run_forever(spec(settings), settings)


if __name__ == "__main__":
    main()
