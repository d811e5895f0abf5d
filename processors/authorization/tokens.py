"""Id token commands (topic `auth.commands`): issue, update, block, unblock, expire, report lost, transfer,
delete. Every change bumps the token's version, writes its history and publishes it on `auth.tokens`.

A deleted token is kept (soft delete, history intact) and published with status INVALID; issuing the same
'<type>:<id>' again revives it with a higher version, so the compacted topic's versions keep increasing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from processors.authorization import payloads as p
from processors.authorization._command_support import aggregate, live_driver, parse, rejected
from processors.authorization.domain import AuthorizationError, TokenStatus, token_key, token_transition
from processors.authorization.local_lists import refresh_local_lists
from processors.authorization.publish import emit_event, publish_token
from processors.authorization.store import id_tokens
from processors.runtime import Command, CommandRejected, UnitOfWork


def _key(command: Command, ref: p.TokenRef) -> str:
    if ref.id_token is not None:
        return aggregate(command, token_key(ref.token_type, ref.id_token), "token key")
    return aggregate(command, ref.token_key, "token_key (or id_token)")


async def _token(uow: UnitOfWork, key: str) -> Any:
    row = (await uow.conn.execute(sa.select(id_tokens).where(id_tokens.c.token_key == key).with_for_update())
           ).one_or_none()
    if row is None or row.deleted_at is not None:
        raise CommandRejected("NOT_FOUND", f"token {key!r} does not exist")
    return row


def _settings(payload: p.TokenFields) -> dict[str, Any]:
    caps = payload.caps
    return {
        "expires_at": payload.expires_at, "group_id": payload.group_id,
        "allow_concurrent_sessions": payload.allow_concurrent_sessions,
        "cap_energy_wh_per_session": caps.energy_wh_per_session, "cap_energy_wh_per_month": caps.energy_wh_per_month,
        "cap_seconds_per_session": caps.seconds_per_session, "cap_seconds_per_month": caps.seconds_per_month,
        "cap_money_per_session": caps.money_per_session, "cap_money_per_month": caps.money_per_month,
        "cap_currency": caps.currency,
    }


async def issue_token(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """IssueToken: a new ACTIVE token (or a deleted one revived); CONFLICT if it exists."""
    payload = parse(p.IssueToken, command)
    key = _key(command, payload)
    token_type, _, id_token = key.partition(":")
    if payload.driver_id is not None:
        await live_driver(uow, payload.driver_id)
    existing = (await uow.conn.execute(sa.select(id_tokens.c.deleted_at).where(id_tokens.c.token_key == key)
                                       .with_for_update())).one_or_none()
    if existing is not None and existing.deleted_at is None:
        raise CommandRejected("CONFLICT", f"token {key!r} exists")
    at = command.requested_at
    values = {"status": TokenStatus.ACTIVE.value, "driver_id": payload.driver_id, "updated_at": at,
              "deleted_at": None, **_settings(payload)}
    if existing is None:
        await uow.conn.execute(sa.insert(id_tokens).values(token_key=key, id_token=id_token, token_type=token_type,
                                                           created_at=at, **values))
    else:
        await uow.conn.execute(sa.update(id_tokens).where(id_tokens.c.token_key == key).values(**values))
    version = await publish_token(uow, key, at, action="ISSUED", command_id=command.command_id)
    emit_event(uow, "TokenIssued", key, {
        "token_key": key, "id_token": id_token, "token_type": token_type, "driver_id": payload.driver_id,
        "status": "ACTIVE", "expires_at": payload.expires_at, "group_id": payload.group_id,
        "allow_concurrent_sessions": payload.allow_concurrent_sessions, "command_id": command.command_id,
        "issued_at": at})
    await refresh_local_lists(uow, at)
    return "CREATED", {"token_key": key, "version": version}


async def update_token(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """UpdateToken: replace expiry, group, concurrent-session rule and budget caps."""
    payload = parse(p.UpdateToken, command)
    key = _key(command, payload)
    await _token(uow, key)
    at = command.requested_at
    await uow.conn.execute(sa.update(id_tokens).where(id_tokens.c.token_key == key).values(
        updated_at=at, **_settings(payload)))
    version = await publish_token(uow, key, at, action="UPDATED", command_id=command.command_id)
    await refresh_local_lists(uow, at)
    return "OK", {"token_key": key, "version": version}


def _status_command(action: str) -> Any:
    async def change_status(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
        payload = parse(p.ChangeToken, command)
        key = _key(command, payload)
        row = await _token(uow, key)
        try:
            target = token_transition(row.status, action)
        except AuthorizationError as exc:
            raise rejected(exc) from None
        if target == row.status:
            return "OK", {"token_key": key, "status": target.value, "version": row.version}
        at = command.requested_at
        values: dict[str, Any] = {"status": target.value, "updated_at": at}
        if target == TokenStatus.EXPIRED and (row.expires_at is None or row.expires_at > at):
            values["expires_at"] = at
        await uow.conn.execute(sa.update(id_tokens).where(id_tokens.c.token_key == key).values(**values))
        version = await publish_token(uow, key, at, action=action.upper(), reason=payload.reason,
                                      command_id=command.command_id)
        emit_event(uow, "TokenStatusChanged", key, {
            "token_key": key, "previous_status": row.status, "status": target.value, "reason": payload.reason,
            "command_id": command.command_id, "changed_at": at})
        await refresh_local_lists(uow, at)
        return "OK", {"token_key": key, "status": target.value, "version": version}

    change_status.__doc__ = f"Token status command '{action}' (see domain.token_transition)."
    return change_status


block_token = _status_command("block")
unblock_token = _status_command("unblock")
expire_token = _status_command("expire")
report_token_lost = _status_command("report_lost")


async def transfer_token(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """TransferToken: move a token to another driver (or to none with `to_driver_id: null`)."""
    payload = parse(p.TransferToken, command)
    key = _key(command, payload)
    row = await _token(uow, key)
    if payload.to_driver_id is not None:
        await live_driver(uow, payload.to_driver_id)
    if row.driver_id == payload.to_driver_id:
        return "OK", {"token_key": key, "driver_id": row.driver_id, "version": row.version}
    at = command.requested_at
    await uow.conn.execute(sa.update(id_tokens).where(id_tokens.c.token_key == key).values(
        driver_id=payload.to_driver_id, updated_at=at))
    version = await publish_token(uow, key, at, action="TRANSFERRED", reason=payload.reason,
                                  command_id=command.command_id)
    emit_event(uow, "TokenTransferred", key, {
        "token_key": key, "from_driver_id": row.driver_id, "to_driver_id": payload.to_driver_id,
        "command_id": command.command_id, "transferred_at": at})
    await refresh_local_lists(uow, at)
    return "OK", {"token_key": key, "driver_id": payload.to_driver_id, "version": version}


async def delete_token(command: Command, uow: UnitOfWork) -> tuple[str, Any]:
    """DeleteToken: soft delete; published INVALID on auth.tokens (see the module docstring)."""
    payload = parse(p.ChangeToken, command)
    key = _key(command, payload)
    await _token(uow, key)
    at = command.requested_at
    await uow.conn.execute(sa.update(id_tokens).where(id_tokens.c.token_key == key).values(
        deleted_at=at, updated_at=at))
    version = await publish_token(uow, key, at, action="DELETED", reason=payload.reason,
                                  command_id=command.command_id)
    emit_event(uow, "TokenDeleted", key, {"token_key": key, "command_id": command.command_id, "deleted_at": at})
    await refresh_local_lists(uow, at)
    return "OK", {"token_key": key, "version": version}
