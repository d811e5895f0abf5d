"""Liveness, the one route that needs no authentication besides the login."""

from __future__ import annotations

from fastapi import APIRouter, Request

router = APIRouter(tags=["health"])


@router.get("/health", summary="The process is alive (no authentication)")
async def health(request: Request) -> dict[str, str]:
    ready = getattr(request.app.state, "api", None) is not None
    return {"status": "ok" if ready else "starting"}
