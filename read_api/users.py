"""Users, refresh tokens and API keys in the API's own store."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from read_api import store
from read_api.auth import (
    API_KEY_PREFIX,
    ROLES,
    Principal,
    hash_password,
    new_secret,
    same_hash,
    sha256_hex,
    split_api_key,
    unauthorized,
    verify_password,
)
from read_api.errors import ApiError

KEY_CACHE_S = 30.0


class Users:
    """Users, refresh tokens and API keys (one instance per app; every method opens its own transaction)."""

    def __init__(self, engine: AsyncEngine, refresh_ttl_s: int) -> None:
        self.engine, self.refresh_ttl_s = engine, refresh_ttl_s
        self._keys: dict[str, tuple[float, Principal]] = {}

    async def ensure_admin(self, username: str, password: str) -> None:
        """Create the first admin from settings, or reset its password to the configured one."""
        u = store.users
        digest = await hash_password(password)
        async with self.engine.begin() as conn:
            stmt = insert(u).values(user_id=str(uuid.uuid4()), username=username, password_hash=digest, role="admin")
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["username"], set_={"password_hash": digest, "role": "admin", "disabled": False}))

    async def create_user(self, username: str, password: str, role: str, driver_id: str | None) -> dict[str, Any]:
        if role not in ROLES:
            raise ApiError(422, f"role must be one of {', '.join(ROLES)}")
        if role == "driver" and not driver_id:
            raise ApiError(422, "a driver user needs driver_id")
        row = {"user_id": str(uuid.uuid4()), "username": username, "role": role, "driver_id": driver_id}
        digest = await hash_password(password)
        async with self.engine.begin() as conn:
            done = await conn.execute(insert(store.users).values(**row, password_hash=digest)
                                      .on_conflict_do_nothing(index_elements=["username"]))
        if done.rowcount == 0:
            raise ApiError(409, f"user {username!r} exists")
        return row

    async def list_users(self) -> list[dict[str, Any]]:
        u = store.users
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(u.c.user_id, u.c.username, u.c.role, u.c.driver_id, u.c.disabled,
                                                u.c.created_at).order_by(u.c.username))
        return [dict(r._mapping) for r in rows]

    async def login(self, username: str, password: str) -> Principal:
        u = store.users
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(u).where(u.c.username == username))).first()
        if not await verify_password(None if row is None else row.password_hash, password) or row is None:
            raise unauthorized("wrong username or password")
        if row.disabled:
            raise unauthorized("this user is disabled")
        return Principal(row.user_id, row.role, row.driver_id, row.username)

    async def issue_refresh(self, principal: Principal) -> str:
        token = new_secret()
        expires = datetime.now(UTC) + timedelta(seconds=self.refresh_ttl_s)
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(store.refresh_tokens).values(
                token_hash=sha256_hex(token), user_id=principal.subject, expires_at=expires))
        return token

    async def use_refresh(self, token: str) -> Principal:
        """Spend a refresh token once (rotation); a reused or expired one is refused."""
        r, u = store.refresh_tokens, store.users
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            spent = (await conn.execute(sa.update(r).where(
                r.c.token_hash == sha256_hex(token), r.c.used_at.is_(None), r.c.expires_at > now,
            ).values(used_at=now).returning(r.c.user_id))).first()
            if spent is None:
                raise unauthorized("the refresh token is not valid")
            row = (await conn.execute(sa.select(u).where(u.c.user_id == spent.user_id))).one()
        if row.disabled:
            raise unauthorized("this user is disabled")
        return Principal(row.user_id, row.role, row.driver_id, row.username)

    async def create_api_key(self, name: str, role: str, driver_id: str | None, created_by: str) -> dict[str, Any]:
        if role not in ROLES:
            raise ApiError(422, f"role must be one of {', '.join(ROLES)}")
        key_id, secret = uuid.uuid4().hex[:16], new_secret()
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(store.api_keys).values(
                key_id=key_id, secret_hash=sha256_hex(secret), name=name, role=role, driver_id=driver_id,
                created_by=created_by))
        return {"key_id": key_id, "name": name, "role": role, "driver_id": driver_id,
                "api_key": f"{API_KEY_PREFIX}{key_id}.{secret}"}

    async def list_api_keys(self) -> list[dict[str, Any]]:
        k = store.api_keys
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(*(c for c in k.c if c.name != "secret_hash")).order_by(k.c.created_at))
        return [dict(r._mapping) for r in rows]

    async def revoke_api_key(self, key_id: str) -> bool:
        k = store.api_keys
        async with self.engine.begin() as conn:
            done = await conn.execute(sa.update(k).where(k.c.key_id == key_id, k.c.revoked_at.is_(None))
                                      .values(revoked_at=sa.func.now()))
        self._keys.clear()
        return done.rowcount > 0

    async def principal_for_api_key(self, raw: str) -> Principal:
        """The principal of an API key (cached for a few seconds: revocation takes effect within KEY_CACHE_S)."""
        cached = self._keys.get(raw)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        parts = split_api_key(raw)
        if parts is None:
            raise unauthorized("the API key is not valid")
        k = store.api_keys
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(k).where(k.c.key_id == parts[0], k.c.revoked_at.is_(None)))).first()
        if row is None or not same_hash(row.secret_hash, parts[1]):
            raise unauthorized("the API key is not valid")
        principal = Principal(f"key:{row.key_id}", row.role, row.driver_id, row.name)
        self._keys[raw] = (time.monotonic() + KEY_CACHE_S, principal)
        return principal
