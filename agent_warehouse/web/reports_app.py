"""The reports folder over HTTP: mounted by the project's plugin under ``/reports`` on the
Airflow api-server, and linked from the UI's navigation (an external view).

Every URL requires an Airflow login: the api-server's own authentication (the JWT the UI
keeps in its ``_token`` cookie, or ``Authorization: Bearer`` from ``POST /auth/token``),
through ``requires_authenticated()``. No login gives 401, an invalid token 403.
"""

from __future__ import annotations

import re
from pathlib import Path

from airflow.api_fastapi.core_api.security import requires_authenticated
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from agent_warehouse import settings

# Only the pages the daily run writes: no paths, so nothing outside the folder is served.
_PAGE = re.compile(r"^(index|daily-\d{4}-\d{2}-\d{2})\.html$")

app = FastAPI(title="Agent warehouse daily reports", dependencies=[Depends(requires_authenticated())],
              docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/", response_model=None)
def index() -> FileResponse | HTMLResponse:
    page = Path(settings.current().reports_dir) / "index.html"
    if not page.exists():
        return HTMLResponse("<p>No daily report yet: the daily_rollup DAG writes them.</p>")
    return FileResponse(page, media_type="text/html")


@app.get("/{name}", response_model=None)
def report_page(name: str) -> FileResponse:
    page = Path(settings.current().reports_dir) / name
    if not _PAGE.match(name) or not page.exists():
        raise HTTPException(status_code=404, detail="no such report")
    return FileResponse(page, media_type="text/html")
