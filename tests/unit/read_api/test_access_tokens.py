"""The cache of verified access tokens never outlives a token's own expiry and never admits an altered token."""

from __future__ import annotations

import time

import pytest

from read_api.auth import AccessTokens, Principal, issue_access_token
from read_api.errors import ApiError

SECRET = "s" * 40


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_a_verified_token_is_remembered_until_its_ttl_then_verified_again():
    start = time.time()
    clock = Clock(start)
    tokens = AccessTokens(SECRET, ttl_s=30, clock=clock)
    token = issue_access_token(SECRET, Principal("u-1", "viewer", name="v"), 900, now=start)
    assert tokens.principal(token) == Principal("u-1", "viewer", None, "v")
    assert tokens._seen[token][0] == start + 30
    clock.at = start + 29
    assert tokens.principal(token).subject == "u-1"  # a hit
    assert tokens._seen[token][0] == start + 30
    clock.at = start + 31
    assert tokens.principal(token).role == "viewer"  # verified again, remembered anew
    assert tokens._seen[token][0] == start + 61


def test_a_token_is_remembered_no_longer_than_its_exp_and_an_expired_one_is_401():
    now = time.time()
    tokens = AccessTokens(SECRET, ttl_s=3_600, clock=lambda: now)
    token = issue_access_token(SECRET, Principal("u-1", "admin"), 60, now=now)
    tokens.principal(token)
    assert tokens._seen[token][0] == int(now) + 60
    expired = issue_access_token(SECRET, Principal("u-2", "admin"), 60, now=0)
    with pytest.raises(ApiError) as caught:
        tokens.principal(expired)
    assert caught.value.status == 401 and expired not in tokens._seen


def test_an_altered_or_forged_token_is_never_a_hit():
    tokens = AccessTokens(SECRET)
    token = issue_access_token(SECRET, Principal("u-1", "driver", "D-1"), 900)
    tokens.principal(token)
    head, payload, signature = token.split(".")
    forged = issue_access_token("another-secret-" + "y" * 32, Principal("u-1", "admin"), 900)
    for bad in (f"{head}.{payload}.{signature[:-2]}AA", forged, token + "x"):
        with pytest.raises(ApiError) as caught:
            tokens.principal(bad)
        assert caught.value.status == 401


def test_the_cache_is_bounded():
    tokens = AccessTokens(SECRET, max_entries=3)
    for i in range(10):
        tokens.principal(issue_access_token(SECRET, Principal(f"u-{i}", "viewer"), 900))
        assert len(tokens._seen) <= 3
