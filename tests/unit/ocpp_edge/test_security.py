"""Security-profile decisions, credentials parsing, token buckets and the password cache (no sockets)."""

from __future__ import annotations

import base64
from http import HTTPStatus

import pytest
from argon2 import PasswordHasher

from ocpp_edge.security import (
    Admitted,
    FailureLimiter,
    GateConfig,
    Gatekeeper,
    PasswordVerifier,
    Refusal,
    TokenBucket,
    assess,
    parse_basic,
    peer_names,
)

HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("pw")


def header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def entry(profile: int, password_hash: str | None = HASH) -> dict:
    return {"security_profile": profile, "password_hash": password_hash}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("raw", "expected"), [
    (header("CP-1", "a:b"), ("CP-1", "a:b")),  # the password may contain colons
    ("basic " + base64.b64encode(b"x:").decode(), ("x", "")),
    (None, None), ("", None), ("Bearer abc", None), ("Basic !!!", None),
    ("Basic " + base64.b64encode(b"no-colon").decode(), None),
])
def test_parse_basic(raw, expected):
    assert parse_basic(raw) == expected


@pytest.mark.parametrize(("profile", "tls", "names", "auth", "want"), [
    (0, False, frozenset(), None, Admitted(0)),
    (1, False, frozenset(), header("S", "pw"), Admitted(1, HASH, "pw")),
    (1, True, frozenset(), header("S", "pw"), Admitted(1, HASH, "pw")),  # stronger transport is fine
    (1, False, frozenset(), None, "no_credentials"),
    (1, False, frozenset(), header("OTHER", "pw"), "bad_credentials"),
    (2, False, frozenset(), header("S", "pw"), "plain_transport"),
    (2, True, frozenset(), header("S", "pw"), Admitted(2, HASH, "pw")),
    (3, False, frozenset({"S"}), None, "plain_transport"),
    (3, True, frozenset(), None, "no_client_cert"),
    (3, True, frozenset({"T"}), None, "cert_name"),
    (3, True, frozenset({"T", "S"}), None, Admitted(3)),
])
def test_assess(profile, tls, names, auth, want):
    got = assess("S", entry(profile), unknown_profile=0, tls=tls, client_names=names, authorization=auth)
    if isinstance(want, str):
        assert isinstance(got, Refusal) and got.why == want
        assert got.challenge == (got.status == HTTPStatus.UNAUTHORIZED)
    else:
        assert got == want


def test_unknown_stations_get_the_configured_profile_and_no_password_can_match():
    assert assess("U", None, unknown_profile=0, tls=False, client_names=frozenset(), authorization=None) == Admitted(0)
    refused = assess("U", None, unknown_profile=1, tls=False, client_names=frozenset(),
                     authorization=header("U", "anything"))
    assert isinstance(refused, Refusal) and refused.status == HTTPStatus.UNAUTHORIZED
    assert assess("U", None, unknown_profile=3, tls=True, client_names=frozenset({"U"}),
                  authorization=None) == Admitted(3)


def test_profile_1_without_a_registered_hash_is_refused():
    got = assess("S", entry(1, None), unknown_profile=0, tls=False, client_names=frozenset(),
                 authorization=header("S", "pw"))
    assert isinstance(got, Refusal) and got.status == HTTPStatus.UNAUTHORIZED


def test_peer_names_reads_cn_and_sans():
    cert = {"subject": ((("countryName", "DE"),), (("commonName", "CP-9"),)),
            "subjectAltName": (("DNS", "cp-9.example"), ("IP Address", "10.0.0.1"))}
    assert peer_names(cert) == {"CP-9", "cp-9.example"}
    assert peer_names(None) == frozenset()


def test_token_bucket_refills():
    bucket = TokenBucket(2, 1.0, 0.0)
    assert (bucket.take(0.0), bucket.take(0.0)) == (0.0, 0.0)
    assert bucket.take(0.0) == pytest.approx(1.0)
    assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(1.0) == 0.0


def test_failure_limiter_blocks_one_host_only():
    clock = Clock()
    limiter = FailureLimiter(2, 0.5, clock=clock)
    limiter.failed("10.0.0.1")
    assert limiter.blocked_for("10.0.0.1") == 0
    limiter.failed("10.0.0.1")
    assert limiter.blocked_for("10.0.0.1") == pytest.approx(2.0)
    assert limiter.blocked_for("10.0.0.2") == 0
    clock.now += 2
    assert limiter.blocked_for("10.0.0.1") == 0


async def test_password_verifier_caches_successes_only_and_expires():
    clock = Clock()
    verifier = PasswordVerifier(ttl_s=60, threads=1, clock=clock)
    try:
        assert await verifier.verify("S", HASH, "pw")
        assert await verifier.verify("S", HASH, "pw")
        assert verifier.verifications == 1
        assert not await verifier.verify("S", HASH, "wrong")
        assert not await verifier.verify("S", HASH, "wrong")
        assert verifier.verifications == 3  # failures are never cached
        assert not await verifier.verify("S", "not-an-argon2-hash", "pw")
        clock.now += 61
        assert await verifier.verify("S", HASH, "pw")
        assert verifier.verifications == 5
    finally:
        verifier.close()


async def test_gatekeeper_paces_admissions_and_limits_failures():
    clock = Clock()
    gate = Gatekeeper(GateConfig(unknown_profile=0, failure_burst=1, failure_per_s=0.01, admission_rate_per_s=1,
                                 admission_burst=2, max_connections=10, auth_cache_ttl_s=60, auth_threads=1),
                      clock=clock)
    try:
        assert gate.pace(0) is None and gate.pace(0) is None
        busy = gate.pace(0)
        assert busy is not None and busy.status == HTTPStatus.SERVICE_UNAVAILABLE and busy.retry_after >= 1
        assert gate.pace(10) is not None  # at max_connections
        profile, refused = await gate.check("S", entry(1), host="h", tls=False, client_names=frozenset(),
                                            authorization=header("S", "bad"))
        assert (profile, refused.status) == (-1, HTTPStatus.UNAUTHORIZED)
        _, limited = await gate.check("S", entry(1), host="h", tls=False, client_names=frozenset(),
                                      authorization=header("S", "pw"))
        assert limited.status == HTTPStatus.TOO_MANY_REQUESTS
        assert await gate.check("S", entry(1), host="other", tls=False, client_names=frozenset(),
                                authorization=header("S", "pw")) == (1, None)
    finally:
        gate.close()
