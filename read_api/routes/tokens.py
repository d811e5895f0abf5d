"""Id tokens (RFID cards, app tokens) by key `<type>:<id>`: reads from the authorization queries module, writes
as commands on `auth.commands`. A driver sees their own tokens and may block them (a lost card)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from processors.authorization import queries as aq
from read_api.auth import Anyone, Principal, Staff, driver_scope, own_driver
from read_api.deps import api_state
from read_api.errors import ApiError, NotFound
from read_api.models import ERRORS
from read_api.pagination import decode_cursor, encode_cursor, page
from read_api.responses import etagged
from read_api.routes._common import Cursor, Limit, OptionalPayload, Payload, Sort, command, merged

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], responses=ERRORS)
TokenKey = Annotated[str, Path(min_length=3, max_length=300, description="'<type>:<id token>'")]


async def _token(request: Request, key: str, principal: Principal) -> aq.Token:
    async with api_state(request).db.read("drivers") as conn:
        token = await aq.get_token(conn, key)
    if token is None:
        raise NotFound(f"token {key}")
    own_driver(principal, token.driver_id)
    return token


@router.get("", summary="Id tokens (a driver sees only their own)")
async def list_tokens(request: Request, principal: Anyone, driver_id: str | None = None, status: str | None = None,
                      token_type: str | None = None, include_deleted: bool = False, sort: Sort = None,
                      cursor: Cursor = None, limit: Limit = 50) -> Response:
    if sort not in (None, "token_key"):
        raise ApiError(422, "tokens sort by token_key only (keyset pagination)", details={"sortable": ["token_key"]})
    driver = driver_scope(principal, driver_id)
    async with api_state(request).db.read("drivers") as conn:
        result = await aq.list_tokens(conn, driver_id=driver, status=status,
                                      token_type=token_type, include_deleted=include_deleted,
                                      after=decode_cursor(cursor).get("after"), limit=limit)
    return page(result.items, encode_cursor({"after": result.next_cursor}) if result.next_cursor else None)


@router.get("/{token_key}", summary="One id token (ETag)")
async def get_token(request: Request, token_key: TokenKey, principal: Anyone) -> Response:
    return etagged(request, await _token(request, token_key, principal))


@router.get("/{token_key}/history", summary="Every version of a token, oldest first")
async def token_history(request: Request, token_key: TokenKey, principal: Anyone) -> Response:
    await _token(request, token_key, principal)
    async with api_state(request).db.read("drivers") as conn:
        changes = await aq.token_changes(conn, token_key)
    return page(changes, None)


@router.post("", summary="Issue a token (IssueToken)")
async def issue_token(request: Request, body: Payload, principal: Staff) -> Response:
    key = body.get("token_key") or (f"{body.get('token_type', 'ISO14443')}:{body['id_token']}"
                                    if body.get("id_token") else None)
    return await command(request, principal, "authorization", "IssueToken", key, body)


@router.patch("/{token_key}", summary="Change a token's settings (UpdateToken)")
async def update_token(request: Request, token_key: TokenKey, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "authorization", "UpdateToken", token_key,
                         merged(body, token_key=token_key))


@router.post("/{token_key}/block", summary="Block a token (BlockToken; a driver may block their own)")
async def block_token(request: Request, token_key: TokenKey, principal: Anyone,
                      body: OptionalPayload = None) -> Response:
    if principal.is_driver:
        await _token(request, token_key, principal)
    return await command(request, principal, "authorization", "BlockToken", token_key,
                         merged(body, token_key=token_key))


@router.post("/{token_key}/unblock", summary="Unblock a token (UnblockToken)")
async def unblock_token(request: Request, token_key: TokenKey, principal: Staff,
                        body: OptionalPayload = None) -> Response:
    return await command(request, principal, "authorization", "UnblockToken", token_key,
                         merged(body, token_key=token_key))


@router.post("/{token_key}/transfer", summary="Move a token to another driver (TransferToken)")
async def transfer_token(request: Request, token_key: TokenKey, body: Payload, principal: Staff) -> Response:
    return await command(request, principal, "authorization", "TransferToken", token_key,
                         merged(body, token_key=token_key))


@router.delete("/{token_key}", summary="Delete a token (DeleteToken)")
async def delete_token(request: Request, token_key: TokenKey, principal: Staff,
                       body: OptionalPayload = None) -> Response:
    return await command(request, principal, "authorization", "DeleteToken", token_key,
                         merged(body, token_key=token_key))
