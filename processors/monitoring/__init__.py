"""The monitoring processor: meter-value time series, fleet health, alert rules and alerts, reports.

Public surface: `spec` (the processor for the runtime), `run` (processor + evaluator + webhooks + partitions),
`MonitoringSettings`; read_api uses `processors.monitoring.queries` only.
"""

from processors.monitoring.bootstrap import spec
from processors.monitoring.service import run
from processors.monitoring.settings import MonitoringSettings

__all__ = ["MonitoringSettings", "run", "spec"]
