from processors.runtime.migrate import run_env

run_env(None)
