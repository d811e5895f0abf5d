"""Who is calling: users (argon2 password hashes), short-lived JWT access tokens, refresh tokens, API keys, roles.

Roles: admin (everything, users and keys), operator (fleet and commands), viewer (read only), driver (own tokens,
sessions, invoices and wallet). Every route but /health, the login and the static dashboard shell depends on
`allow(...)`: no or bad credentials → 401, a role not listed → 403.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request

from read_api.errors import ApiError, Forbidden

ADMIN, OPERATOR, VIEWER, DRIVER = "admin", "operator", "viewer", "driver"
ROLES: Final = (ADMIN, OPERATOR, VIEWER, DRIVER)
STAFF: Final = (ADMIN, OPERATOR)
READERS: Final = (ADMIN, OPERATOR, VIEWER)
EVERYONE: Final = ROLES
ALGORITHM = "HS256"
API_KEY_PREFIX = "csk_"
# the access token as an HttpOnly cookie, accepted on these paths only (a browser opening Swagger UI; read-only)
DOCS_COOKIE = "csms_docs"
DOCS_PATHS: Final = frozenset({"/docs", "/openapi.json"})
_hasher = PasswordHasher()
# a real hash of a random password: verifying an unknown user costs as much as a known one (no user enumeration)
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user (JWT) or an API key."""

    subject: str  # user id or "key:<key id>"
    role: str
    driver_id: str | None = None
    name: str = ""

    @property
    def is_driver(self) -> bool:
        return self.role == DRIVER


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def sha256_hex(secret: str) -> str:
    """Hash of a high-entropy secret (refresh token, API key); argon2 is for low-entropy passwords."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def issue_access_token(secret: str, principal: Principal, ttl_s: int, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {"sub": principal.subject, "role": principal.role, "drv": principal.driver_id, "name": principal.name,
              "iat": issued, "exp": issued + ttl_s, "typ": "access"}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_access_token(secret: str, token: str) -> Principal:
    return _verify(secret, token)[0]


def _verify(secret: str, token: str) -> tuple[Principal, float]:
    """The caller and the expiry (unix seconds) of a valid access token; 401 otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=[ALGORITHM],
                                            options={"require": ["exp", "sub", "role"]})
    except jwt.ExpiredSignatureError:
        raise unauthorized("the access token has expired") from None
    except jwt.InvalidTokenError:
        raise unauthorized("the access token is not valid") from None
    if claims.get("typ") != "access" or claims["role"] not in ROLES:
        raise unauthorized("the access token is not valid")
    principal = Principal(str(claims["sub"]), str(claims["role"]), claims.get("drv"), str(claims.get("name") or ""))
    return principal, float(claims["exp"])


class AccessTokens:
    """Access tokens already verified, remembered for `ttl_s` and never past their own `exp`.

    Verifying a JWT (base64, JSON, HMAC, claims) costs ~50 µs, a large share of a short read; a client sends the
    same token on every request until it refreshes it. The key is the whole token, signature included, so a
    forged or altered token is never a hit. One instance per app (built by `create_app`)."""

    def __init__(self, secret: str, *, ttl_s: float = 30.0, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self._secret, self._ttl_s, self._max, self._clock = secret, ttl_s, max_entries, clock
        self._seen: dict[str, tuple[float, Principal]] = {}

    def principal(self, token: str) -> Principal:
        now = self._clock()
        seen = self._seen.get(token)
        if seen is not None and now < seen[0]:
            return seen[1]
        principal, expires = _verify(self._secret, token)
        if len(self._seen) >= self._max:
            self._seen.clear()
        self._seen[token] = (min(expires, now + self._ttl_s), principal)
        return principal


def split_api_key(raw: str) -> tuple[str, str] | None:
    """`csk_<key id>.<secret>` → (key id, secret)."""
    if not raw.startswith(API_KEY_PREFIX) or "." not in raw:
        return None
    key_id, _, secret = raw[len(API_KEY_PREFIX):].partition(".")
    return (key_id, secret) if key_id and secret else None


def same_hash(stored: str, secret: str) -> bool:
    return hmac.compare_digest(stored, sha256_hex(secret))


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(request: Request) -> Principal:
    """The caller from `Authorization: Bearer <jwt>` or `X-API-Key` (or `access_token` for the live feed,
    because EventSource cannot send headers, and the `csms_docs` cookie for the browser's `/docs`)."""
    from read_api.deps import api_state

    tokens: AccessTokens = request.app.state.access_tokens
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return tokens.principal(token.strip())
    api_key = request.headers.get("x-api-key")
    if api_key:
        return await api_state(request).users.principal_for_api_key(api_key)
    path = request.scope["path"]
    if path == "/api/v1/live" and request.query_params.get("access_token"):
        return tokens.principal(request.query_params["access_token"])
    if path in DOCS_PATHS and request.cookies.get(DOCS_COOKIE):
        return tokens.principal(request.cookies[DOCS_COOKIE])
    raise unauthorized("authentication required")


def admit(principal: Principal, roles: tuple[str, ...]) -> Principal:
    """`principal` if its role is one of `roles`; 403 otherwise."""
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role} may not use this endpoint")
    return principal


async def authorize(request: Request, roles: tuple[str, ...]) -> Principal:
    """`allow(*roles)` as a plain call, for routes served without FastAPI's dependency solving (read_api.lean)."""
    return admit(await authenticate(request), roles)


def allow(*roles: str) -> Any:
    """A dependency that authenticates the caller and admits only `roles`."""

    async def admitted(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        return admit(principal, roles)

    admitted.roles = roles  # type: ignore[attr-defined]  # read by the dashboard and docs, not by checks
    return Depends(admitted)


def own_driver(principal: Principal, driver_id: str | None) -> None:
    """A driver may only touch their own data."""
    if principal.is_driver and (driver_id is None or driver_id != principal.driver_id):
        raise Forbidden("a driver may only see and act on their own data")


def driver_scope(principal: Principal, requested: str | None) -> str | None:
    """The driver filter of a list: a driver always sees only their own rows."""
    if principal.is_driver:
        if requested not in (None, principal.driver_id):
            raise Forbidden("a driver may only see their own data")
        return principal.driver_id or "\x00no-driver"
    return requested


Admin = Annotated[Principal, allow(ADMIN)]
Staff = Annotated[Principal, allow(*STAFF)]
Reader = Annotated[Principal, allow(*READERS)]
Anyone = Annotated[Principal, allow(*EVERYONE)]
