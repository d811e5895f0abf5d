from processors.authorization.store import metadata
from processors.runtime.migrate import run_env

run_env(metadata)
