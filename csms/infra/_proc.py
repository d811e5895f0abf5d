"""Pid-file helpers for the background servers the project starts."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); look at its state
    with contextlib.suppress(FileNotFoundError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def stop_pid(pidfile: Path, sig: signal.Signals = signal.SIGTERM, *, timeout: float = 30.0) -> bool:
    """Signal the process group named by `pidfile`; escalate to SIGKILL after `timeout`. True if it ran."""
    pid = read_pid(pidfile)
    if pid is None or not pid_alive(pid):
        pidfile.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
    pidfile.unlink(missing_ok=True)
    return True


def spawn_detached(cmd: list[str], logfile: Path) -> int:
    """Start `cmd` in its own session with output appended to `logfile`; return its pid (no Popen to reap)."""
    fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fd, 1),
            (os.POSIX_SPAWN_DUP2, fd, 2),
        ]
        return os.posix_spawnp(cmd[0], cmd, dict(os.environ), file_actions=actions, setsid=True)
    finally:
        os.close(fd)
