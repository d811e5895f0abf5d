"""The stations processor: station registry and lifecycle, live state from OCPP, the `stations.registry` topic.

Others import only `queries` (read_api) and, for wiring, `spec` / `StationsSettings`.
"""

from processors.stations.bootstrap import spec
from processors.stations.settings import StationsSettings

__all__ = ["StationsSettings", "spec"]
