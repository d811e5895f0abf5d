"""The OpenAPI document and its Swagger UI, for authenticated callers only (every role).

An API client sends its bearer token or API key as on any route. A browser cannot add a header when it opens
`/docs`, so the login and refresh responses also set `csms_docs`, an HttpOnly, SameSite=Strict cookie holding the
same short-lived access token, that is accepted on these two routes only (`read_api.auth.DOCS_PATHS`): a logged-in
operator opens `/docs` from the dashboard, and Swagger UI's own request for `/openapi.json` carries the cookie.
"Try it out" calls need a token of their own: the document declares the OAuth2 password flow of
`POST /api/v1/auth/token` and the `X-API-Key` header, so Swagger UI's Authorize button logs in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

from read_api.auth import Anyone
from read_api.responses import JsonResponse

router = APIRouter(include_in_schema=False)
SECURITY_SCHEMES = {
    "OAuth2Password": {"type": "oauth2", "flows": {"password": {"tokenUrl": "/api/v1/auth/token",
                                                                "refreshUrl": "/api/v1/auth/refresh",
                                                                "scopes": {}}}},
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with its security schemes (built once per app)."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description,
                               routes=app.routes)
        document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        document["security"] = [{"OAuth2Password": []}, {"ApiKey": []}]
        app.openapi_schema = document
    return app.openapi_schema


@router.get("/openapi.json")
async def openapi(request: Request, _: Anyone) -> Response:
    return JsonResponse(openapi_document(request.app))


@router.get("/docs")
async def swagger_ui(request: Request, _: Anyone) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} - docs",
                               swagger_ui_parameters={"persistAuthorization": False})
