"""Sampled values: what is stored per value is decided in SQL (`_timeseries._INGEST`), the rules are here.

- every numeric `sampledValue.value` is stored (1.6 strings are parsed; 1.6 `SignedData` and other non-numbers are
  skipped); `measurand` defaults to Energy.Active.Import.Register;
- 2.x values are multiplied by 10^`unitOfMeasure.multiplier`; kWh, kW, kvarh, kvar, kVA are scaled to Wh, W,
  varh, var, VA; an energy value without unit is Wh;
- the sample time is the charger's timestamp when within [receive time - TRUST_PAST, receive time + TRUST_FUTURE]
  (domain.health), else the edge's receive time; both raw times are kept.
"""

from __future__ import annotations

DEFAULT_MEASURAND = "Energy.Active.Import.Register"
SCALED_UNITS = {"kWh": "Wh", "kW": "W", "kvarh": "varh", "kvar": "var", "kVA": "VA"}
