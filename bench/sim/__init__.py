"""The fleet simulator (`csms sim`): the load generator for the benchmarks and the demo fleet of `make up`."""

from bench.sim.fleet import FleetConfig, FleetStats, run_fleet

__all__ = ["FleetConfig", "FleetStats", "run_fleet"]
