"""Login (OAuth2 password flow), refresh, the caller, users and API keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from read_api.auth import DOCS_COOKIE, Admin, Anyone, Principal, issue_access_token
from read_api.deps import api_state
from read_api.errors import NotFound
from read_api.models import TokenResponse

router = APIRouter(prefix="/api/v1", tags=["auth"])


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=8, max_length=200)
    role: str
    driver_id: str | None = None


class NewApiKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str
    driver_id: str | None = None


async def _tokens(request: Request, response: Response, principal: Principal) -> TokenResponse:
    state = api_state(request)
    ttl = state.settings.access_token_ttl_s
    access = issue_access_token(state.settings.jwt_secret.get_secret_value(), principal, ttl)
    refresh = await state.users.issue_refresh(principal)
    # the same access token for the browser's /docs and /openapi.json only (read_api.routes.docs)
    response.set_cookie(DOCS_COOKIE, access, max_age=ttl, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return TokenResponse(access_token=access, token_type="bearer", expires_in=ttl, refresh_token=refresh,
                         role=principal.role, driver_id=principal.driver_id, username=principal.name)


@router.post("/auth/token", summary="Log in (OAuth2 password flow); no authentication", response_model=TokenResponse)
async def login(request: Request, response: Response,
                form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenResponse:
    principal = await api_state(request).users.login(form.username, form.password)
    return await _tokens(request, response, principal)


@router.post("/auth/refresh", summary="Swap a refresh token (once) for new tokens", response_model=TokenResponse)
async def refresh(request: Request, response: Response, refresh_token: Annotated[str, Form()]) -> TokenResponse:
    principal = await api_state(request).users.use_refresh(refresh_token)
    return await _tokens(request, response, principal)


@router.get("/auth/me", summary="The authenticated caller")
async def me(principal: Anyone) -> dict[str, Any]:
    return {"subject": principal.subject, "role": principal.role, "driver_id": principal.driver_id,
            "name": principal.name}


@router.get("/users", summary="Users (admin)")
async def list_users(request: Request, _: Admin) -> dict[str, Any]:
    return {"items": await api_state(request).users.list_users(), "next_cursor": None}


@router.post("/users", status_code=201, summary="Create a user (admin)")
async def create_user(request: Request, body: NewUser, _: Admin) -> dict[str, Any]:
    return await api_state(request).users.create_user(body.username, body.password, body.role, body.driver_id)


@router.get("/api-keys", summary="API keys, without their secrets (admin)")
async def list_keys(request: Request, _: Admin) -> dict[str, Any]:
    return {"items": await api_state(request).users.list_api_keys(), "next_cursor": None}


@router.post("/api-keys", status_code=201, summary="Create an API key; the key is shown once (admin)")
async def create_key(request: Request, body: NewApiKey, principal: Admin) -> dict[str, Any]:
    return await api_state(request).users.create_api_key(body.name, body.role, body.driver_id, principal.subject)


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key (admin)")
async def revoke_key(request: Request, key_id: str, _: Admin) -> None:
    if not await api_state(request).users.revoke_api_key(key_id):
        raise NotFound(f"API key {key_id}")
