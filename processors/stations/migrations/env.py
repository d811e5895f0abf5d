from processors.runtime.migrate import run_env
from processors.stations.store import metadata

run_env(metadata)
