"""Shared runtime of the CSMS: settings base, structured logging, the Kafka client wrapper, local infra, CLI.

No domain logic lives here. Public surface:
"""

from csms.logs import configure_logging, get_logger
from csms.settings import KafkaSettings, ServiceSettings

__all__ = ["KafkaSettings", "ServiceSettings", "configure_logging", "get_logger"]
