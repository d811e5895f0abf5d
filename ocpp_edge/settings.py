"""Settings of the OCPP edge (env prefix CSMS_EDGE_)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from csms.settings import ServiceSettings


def _default_edge_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class EdgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CSMS_EDGE_", env_nested_delimiter="__", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=0, le=65535)
    http_port: int = Field(default=4001, ge=0, le=65535)
    edge_id: str = Field(default_factory=_default_edge_id, min_length=1, max_length=64)
    unknown_stations: Literal["reject", "pending", "accept"] = "pending"
    heartbeat_interval_s: int = Field(default=300, ge=10, description="BootNotification interval when unset")
    pending_retry_interval_s: int = Field(default=60, ge=5)
    open_transaction_max_age_s: float = Field(
        default=86_400.0, gt=0, description="A token's transaction open longer (no stop seen) no longer gives "
        "ConcurrentTx elsewhere")
    max_frame_bytes: int = Field(default=64 * 1024, ge=1024, description="Larger frames close the socket (1009)")
    ping_interval_s: float | None = Field(default=60.0, gt=0)
    ping_timeout_s: float | None = Field(default=30.0, gt=0)
    spool_dir: Path = Path(".cache/run/edge-spool")
    durable_timeout_s: float = Field(default=3.0, gt=0, description="Wait for a Kafka ack before spooling")
    txid_block_size: int = Field(default=256, ge=1, le=1_000_000)
    answer_cache_per_station: int = Field(default=8, ge=0, le=256)
    require_boot_for_v2: bool = Field(default=True, description="2.x: SecurityError before an Accepted boot")
    reuse_port: bool = False
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop", description="uvloop: ~10 % less CPU per MeterValues, C TLS (a TLS storm twice as fast, a "
        "quarter of the memory); asyncio: plain-ws connection storms ~25 % faster (docs/benchmarks.md)")
    listen_backlog: int = Field(default=4096, ge=1, description="Kernel accept queue per listener (capped by "
                                "net.core.somaxconn): asyncio's 100 drops SYNs in a reconnect storm, and a dropped "
                                "SYN costs the charger a 1-3 s retransmission")
    gc_thresholds: tuple[int, int, int] = Field(
        default=(1_000, 10, 100),
        description="gc.set_threshold after start-up: full collections 10x rarer than with "
                    "CPython's (700, 10, 10); they paused a storm-loaded edge for 0.2-0.3 s")
    # -- security profiles (ocpp_edge/security.py) -----------------------------------------------------------
    unknown_station_profile: int = Field(default=0, ge=0, le=3,
                                         description="Profile required of a station not in stations.registry")
    tls_port: int | None = Field(default=None, ge=0, le=65535, description="wss:// port (profiles 2 and 3), e.g. 4443")
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = Field(default=None, description="CA that client certificates must chain to (profile 3)")
    auth_cache_ttl_s: float = Field(default=300.0, ge=0, description="Successful password checks are cached this long")
    auth_threads: int = Field(default=2, ge=1, le=64, description="Threads for argon2 verification")
    auth_failure_burst: int = Field(default=10, ge=1, description="Failed upgrades per address before 429")
    auth_failure_per_s: float = Field(default=0.2, gt=0, description="Refill of the per-address failure budget")
    admission_rate_per_s: float = Field(default=2000.0, gt=0, description="Upgrades admitted per second (503 beyond)")
    admission_burst: int = Field(default=2000, ge=1)
    max_connections: int = Field(default=60_000, ge=1)
    close_timeout_s: float = Field(default=2.0, gt=0, description="Wait for a closing handshake (dead sockets)")
    # -- commands to chargers (ocpp_edge/dispatch.py) ---------------------------------------------------------
    command_timeout_s: float = Field(default=30.0, gt=0, description="Wait for the charger's reply (TIMEOUT)")
    command_grace_s: float = Field(default=5.0, ge=0,
                                   description="A command without expiry waits this long for its charger")
    command_lookback_s: float = Field(default=3600.0, ge=0, description="Commands re-read at start-up")
    edge_heartbeat_s: float = Field(default=2.0, gt=0, description="Liveness heartbeat in edge.presence")
