"""The read API (port 3000): reads each domain through its queries module, writes as commands, live feed,
webhooks, and the operators' dashboard at `/`."""

from read_api.app import create_app
from read_api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
