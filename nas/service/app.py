"""``create_app``: the FastAPI application over one store, one Ray runtime and one token."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from nas.service import dashboard, routes
from nas.service.fastpath import CachedReads
from nas.service.runs import RayUnavailableError, RunConflictError
from nas.service.security import GuardMiddleware
from nas.service.service import RequestError, Service, spec_error_detail
from nas.service.settings import ServiceSettings
from nas.spec import SpecError
from storage import StudyExistsError, StudyNotFoundError

log = logging.getLogger(__name__)


def create_app(settings: ServiceSettings) -> FastAPI:
    """The app; Ray starts in the background when the app starts, and stops with it."""
    svc = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.start()
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(
        title="nas",
        summary="Neural architecture search studies: submit, watch, query Pareto fronts, resume.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = svc
    app.include_router(routes.router)
    app.include_router(dashboard.router)
    _error_handlers(app)
    app.add_middleware(CachedReads, serve=svc.reads.cache.serve)  # inside the guard: added first
    app.add_middleware(GuardMiddleware, settings=settings)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StudyNotFoundError)
    async def not_found(_: Request, e: StudyNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=404)

    @app.exception_handler(SpecError)
    async def bad_spec(_: Request, e: SpecError) -> JSONResponse:
        return JSONResponse({"detail": spec_error_detail(e)}, status_code=422)

    @app.exception_handler(RequestError)
    async def refused(_: Request, e: RequestError) -> JSONResponse:
        detail = (
            [{"loc": ["body", *e.field.split(".")], "msg": e.message, "type": "value_error"}]
            if e.field and e.status == 422
            else e.message
        )
        return JSONResponse({"detail": detail}, status_code=e.status)

    @app.exception_handler(StudyExistsError)
    @app.exception_handler(RunConflictError)
    async def conflict(_: Request, e: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=409)

    @app.exception_handler(RayUnavailableError)
    async def no_ray(_: Request, e: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=503)

    @app.exception_handler(SQLAlchemyError)
    async def storage_down(_: Request, e: SQLAlchemyError) -> JSONResponse:
        log.error("storage error: %s", type(e).__name__)  # the message may hold the URL's password
        return JSONResponse({"detail": f"storage error ({type(e).__name__}); see the server log"}, status_code=503)
