from processors.runtime.migrate import run_env
from read_api.store import metadata

run_env(metadata)
