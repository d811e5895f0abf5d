"""Security profiles at the WebSocket upgrade (OCPP 1.6 security whitepaper ed. 3; OCPP 2.0.1 part 2 A00).

The profile a station must use comes from its `stations.registry` entry (`security_profile`); a station that is
not registered gets `unknown_station_profile` (default 0: the demo accepts anyone; the unknown-station policy then
decides its BootNotification). A station may always use a stronger transport than its profile, never a weaker one.

    profile  transport        credentials
    0        ws:// or wss://  none
    1        ws:// or wss://  HTTP Basic: username = station id, password checked against the argon2 hash
    2        wss:// only      HTTP Basic as in 1
    3        wss:// only      client certificate that chains to the configured CA and names the station
                              (subject CN or a SAN equal to the station id); no password

`assess` is pure. `Gatekeeper` adds the slow and stateful parts: argon2 verification in a small thread pool with a
per-(station, hash) cache of successful checks, a token bucket of failures per remote address (429), and admission
pacing of upgrades (503 with Retry-After) so that a reconnect storm is served in waves instead of all at once.
Passwords are never logged or kept: the cache holds an HMAC of the password under a per-process random key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import random
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["Admitted", "FailureLimiter", "Gatekeeper", "PasswordVerifier", "Refusal", "TokenBucket", "assess",
           "parse_basic", "peer_names", "server_tls_context"]


@dataclass(frozen=True, slots=True)
class Admitted:
    profile: int
    password_hash: str | None = None  # set when a password still has to be verified
    password: str | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    status: HTTPStatus
    reason: str  # the response body: says what is wrong, never a secret
    why: str  # metrics label
    auth_failure: bool = True  # counts against the address's failure budget
    challenge: bool = False  # add WWW-Authenticate: Basic
    retry_after: int | None = None


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """`Authorization: Basic base64(user:password)` -> (user, password); None when absent or malformed."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def peer_names(cert: Mapping[str, Any] | None) -> frozenset[str]:
    """Subject CNs and DNS/URI SANs of a verified peer certificate (`SSLObject.getpeercert()`)."""
    if not cert:
        return frozenset()
    names = {value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"}
    names |= {value for kind, value in cert.get("subjectAltName", ()) if kind in ("DNS", "URI")}
    return frozenset(names)


def assess(station_id: str, entry: Mapping[str, Any] | None, *, unknown_profile: int, tls: bool,
           client_names: frozenset[str], authorization: str | None) -> Admitted | Refusal:
    """What the upgrade of `station_id` needs, from its registry entry and what the connection presents."""
    profile = int(entry.get("security_profile") or 0) if entry is not None else unknown_profile
    if profile >= 2 and not tls:
        return Refusal(HTTPStatus.FORBIDDEN, f"security profile {profile} requires TLS: connect with wss:// to the "
                       "TLS port", "plain_transport")
    if profile == 3:
        if not client_names:
            return Refusal(HTTPStatus.FORBIDDEN, "security profile 3 requires a client certificate", "no_client_cert")
        if station_id not in client_names:
            return Refusal(HTTPStatus.FORBIDDEN, "client certificate does not name this station", "cert_name")
        return Admitted(3)
    if profile == 0:
        return Admitted(0)
    credentials = parse_basic(authorization)
    if credentials is None:
        return Refusal(HTTPStatus.UNAUTHORIZED, "HTTP Basic credentials required", "no_credentials", challenge=True)
    user, password = credentials
    password_hash = entry.get("password_hash") if entry is not None else None
    if user != station_id or not password_hash:
        return Refusal(HTTPStatus.UNAUTHORIZED, "invalid credentials", "bad_credentials", challenge=True)
    return Admitted(profile, password_hash, password)


class TokenBucket:
    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity, self.rate, self.tokens, self.updated = capacity, rate, capacity, now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 when granted, else the seconds until one is available."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0.0 now), without taking one."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class FailureLimiter:
    """A failure budget per remote host: `burst` failures, refilled at `per_s`; an empty budget means 429."""

    def __init__(self, burst: int, per_s: float, *, clock: Callable[[], float] = time.monotonic,
                 hosts: int = 100_000) -> None:
        self.burst, self.per_s, self.clock, self.hosts = burst, per_s, clock, hosts
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def blocked_for(self, host: str) -> float:
        bucket = self._buckets.get(host)
        return bucket.wait(self.clock()) if bucket is not None else 0.0

    def failed(self, host: str) -> None:
        bucket = self._buckets.get(host)
        if bucket is None:
            bucket = self._buckets[host] = TokenBucket(self.burst, self.per_s, self.clock())
            if len(self._buckets) > self.hosts:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(host)
        bucket.take(self.clock())


class PasswordVerifier:
    """argon2 verification off the event loop, with a short-lived cache of successful checks."""

    def __init__(self, ttl_s: float, threads: int, *, clock: Callable[[], float] = time.monotonic,
                 entries: int = 200_000) -> None:
        self.ttl_s, self.clock, self.entries = ttl_s, clock, entries
        self._hasher = PasswordHasher()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="edge-argon2")
        self._key = os.urandom(32)
        self._cache: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()
        self.verifications = 0

    async def verify(self, station_id: str, password_hash: str, password: str) -> bool:
        digest = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        key = (station_id, password_hash)
        hit = self._cache.get(key)
        if hit is not None and hit[1] > self.clock() and hmac.compare_digest(hit[0], digest):
            return True
        self.verifications += 1
        ok = await asyncio.get_running_loop().run_in_executor(self._pool, self._check, password_hash, password)
        if ok and self.ttl_s > 0:
            self._cache[key] = (digest, self.clock() + self.ttl_s)
            self._cache.move_to_end(key)
            if len(self._cache) > self.entries:
                self._cache.popitem(last=False)
        return ok

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class GateConfig:
    unknown_profile: int
    failure_burst: int
    failure_per_s: float
    admission_rate_per_s: float
    admission_burst: int
    max_connections: int
    auth_cache_ttl_s: float
    auth_threads: int


class Gatekeeper:
    """The security and pacing decision of one upgrade: `None` admits, a `Refusal` says how to refuse."""

    def __init__(self, config: GateConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.clock = config, clock
        self.failures = FailureLimiter(config.failure_burst, config.failure_per_s, clock=clock)
        self.passwords = PasswordVerifier(config.auth_cache_ttl_s, config.auth_threads, clock=clock)
        self._admission = TokenBucket(config.admission_burst, config.admission_rate_per_s, clock())

    def pace(self, open_connections: int) -> Refusal | None:
        """Admission pacing: 503 + Retry-After (jittered so that refused chargers come back spread out)."""
        wait = 0.0 if open_connections < self.config.max_connections else 5.0
        wait = wait or self._admission.take(self.clock())
        if wait <= 0:
            return None
        return Refusal(HTTPStatus.SERVICE_UNAVAILABLE, "edge busy: retry later", "admission", auth_failure=False,
                       retry_after=max(1, round(wait + random.uniform(0, 5))))

    async def check(self, station_id: str, entry: Mapping[str, Any] | None, *, host: str, tls: bool,
                    client_names: frozenset[str], authorization: str | None) -> tuple[int, Refusal | None]:
        """(the station's profile, None) when admitted; (profile or -1, refusal) otherwise."""
        blocked = self.failures.blocked_for(host)
        if blocked > 0:
            return -1, Refusal(HTTPStatus.TOO_MANY_REQUESTS, "too many failed attempts: retry later", "rate_limited",
                               auth_failure=False, retry_after=max(1, round(blocked)))
        verdict = assess(station_id, entry, unknown_profile=self.config.unknown_profile, tls=tls,
                         client_names=client_names, authorization=authorization)
        if isinstance(verdict, Refusal):
            self.failures.failed(host)
            return -1, verdict
        if verdict.password_hash is not None and verdict.password is not None and not await self.passwords.verify(
                station_id, verdict.password_hash, verdict.password):
            self.failures.failed(host)
            return -1, Refusal(HTTPStatus.UNAUTHORIZED, "invalid credentials", "bad_password", challenge=True)
        return verdict.profile, None

    def close(self) -> None:
        self.passwords.close()


def server_tls_context(cert_file: Path, key_file: Path, ca_file: Path | None) -> ssl.SSLContext:
    """TLS >= 1.2 with the edge's certificate; with a CA, client certificates are verified when presented (a
    certificate that does not chain to the CA fails the handshake; profile 3 then requires one by name)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
