"""The dashboard: one HTML page and its script, plus plotly's bundled JavaScript (no CDN)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).parent / "static"
router = APIRouter(include_in_schema=False)


@cache
def plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall the plotly package")
    return path


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    settings = request.app.state.service.settings
    html = (STATIC / "index.html").read_text()
    html = html.replace("{{REFRESH_MS}}", str(int(settings.refresh_s * 1000)))
    return HTMLResponse(html.replace("{{NEEDS_TOKEN}}", "true" if settings.reads_need_token else "false"))


@router.get("/healthz")
def health(request: Request) -> dict[str, str]:
    """Liveness plus the shared Ray runtime's state: off, starting, warming (up, its workers
    starting), ready, or its error."""
    rt = request.app.state.service.runtime
    ray = "off" if rt is None else "ready" if rt.warm else "warming" if rt.ready else (rt.error or "starting")
    return {"status": "ok", "ray": ray}


@router.get("/static/plotly.min.js")
def plotly_bundle() -> FileResponse:
    return FileResponse(plotly_js(), media_type="text/javascript", headers={"cache-control": "max-age=86400"})


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    files = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
    if name not in files:
        from fastapi import HTTPException

        raise HTTPException(404, f"no asset {name!r}")
    return FileResponse(STATIC / name, media_type=files[name])
