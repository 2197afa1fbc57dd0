"""The live-operations page: ``GET /`` and its static files under ``/static``.

Plain HTML/CSS/JS shipped in ``api/static`` (no build step). The page itself needs no
API key: it asks the user for one, keeps it in the browser's localStorage, and sends it
to the ``/v1`` endpoints, which enforce it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Everything the page loads is its own (no inline script or style, no third party);
# fetch() only talks to this origin.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def install(app: FastAPI) -> None:
    """Serve the page at ``GET /`` and its assets at ``/static`` (idempotent)."""
    if getattr(app.state, "ops_page_installed", False):
        return
    app.state.ops_page_installed = True
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    def ops_page() -> FileResponse:
        return FileResponse(index, media_type="text/html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
