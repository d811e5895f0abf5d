"""The operators' dashboard: one HTML shell at `/` and its static assets (public: they hold no data; every
data call the page makes goes through the authenticated API)."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, HTMLResponse

from read_api.errors import NotFound

router = APIRouter(include_in_schema=False)
STATIC = FsPath(__file__).resolve().parent.parent / "dashboard" / "static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@router.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    return HTMLResponse((STATIC / "index.html").read_text(), headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}")
async def asset(name: Annotated[str, Path(pattern=r"^[a-z0-9_-]+\.(js|css|svg)$")]) -> FileResponse:
    path = STATIC / name
    if not path.is_file():
        raise NotFound(f"asset {name}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers={"Cache-Control": "no-cache"})
