"""`csms-billing` / `python -m processors.billing`: the billing processor (port 3003)."""

from __future__ import annotations

from csms.entry import run_until_signalled
from csms.logs import configure_logging
from csms.settings import load_settings
from processors.billing.bootstrap import run
from processors.billing.settings import BillingSettings


def main() -> None:
    """Run until SIGTERM/SIGINT."""
    settings = load_settings(BillingSettings)
    configure_logging(settings.log_level, settings.log_format, service="billing")
    run_until_signalled(lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
