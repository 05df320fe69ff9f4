"""The ``/studies`` endpoints. Writes are guarded by :class:`~nas.service.security.GuardMiddleware`;
the ``Security`` dependency below only documents the bearer scheme in the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer

from nas.service.schemas import ErrorOut, HypervolumeOut, StudyOut, TrialOut, TrialPage
from nas.service.service import Service
from nas.spec import StudySpec

bearer = HTTPBearer(auto_error=False, description="NAS_API_TOKEN, or the token printed at start-up")
router = APIRouter(prefix="/studies", tags=["studies"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing token"},
    403: {"model": ErrorOut, "description": "wrong token, or an import path off the allow-list"},
    404: {"model": ErrorOut, "description": "unknown study"},
    409: {"model": ErrorOut, "description": "conflicts with the study's state"},
    413: {"model": ErrorOut, "description": "body too large"},
}


def service(request: Request) -> Service:
    return request.app.state.service


@router.post("", status_code=201, response_model=StudyOut, responses=_ERRORS, dependencies=[Security(bearer)])
def submit_study(spec: StudySpec, svc: Service = Depends(service)) -> dict[str, Any]:
    """Validate a spec, create its study and run it in the background on the server's Ray."""
    return svc.submit(spec)


@router.get("", response_model=list[StudyOut])
def list_studies(svc: Service = Depends(service)) -> list[dict[str, Any]]:
    """Every stored study with its state and progress."""
    return svc.reads.list()


@router.get("/{name}", response_model=StudyOut, responses=_ERRORS)
def get_study(name: str, svc: Service = Depends(service)) -> dict[str, Any]:
    return svc.reads.status(name)


@router.get("/{name}/trials", response_model=TrialPage, responses=_ERRORS)
def get_trials(
    name: str,
    state: Literal["pending", "running", "complete", "failed"] | None = None,
    offset: int = Query(0, ge=0, le=10**9),
    limit: int = Query(1000, ge=1, le=10000),
    order: Literal["asc", "desc"] = "asc",
    svc: Service = Depends(service),
) -> dict[str, Any]:
    """Trials by number, a page at a time, optionally only those in one state."""
    return svc.reads.trials(name, state, offset, limit, order == "desc")


@router.get(
    "/{name}/pareto",
    response_model=list[TrialOut],
    responses={**_ERRORS, 200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def get_pareto(name: str, format: Literal["json", "csv"] = "json", svc: Service = Depends(service)) -> Response:
    """The Pareto front (feasible, non-dominated COMPLETE trials) as JSON or CSV."""
    if format == "csv":
        text = await _cached(svc, name, "pareto.csv", svc.reads.pareto_csv)
        return Response(text, media_type="text/csv")
    body = await _cached(svc, name, "pareto.json", svc.reads.pareto_json)
    return Response(body, media_type="application/json")


async def _cached(svc: Service, name: str, kind: str, compute: Any) -> Any:
    """A cache hit answers on the event loop; a miss reads the store in the thread pool."""
    hit = svc.reads.cache.peek((name, kind))
    return hit if hit is not None else await run_in_threadpool(compute, name)


@router.get("/{name}/hypervolume", response_model=HypervolumeOut, responses=_ERRORS)
def get_hypervolume(name: str, svc: Service = Depends(service)) -> dict[str, Any]:
    """Hypervolume of the front after each COMPLETE trial, in finishing order."""
    return svc.reads.hypervolume(name)


@router.get("/{name}/importance", response_model=list[dict[str, Any]], responses=_ERRORS)
def get_importance(
    name: str,
    objective: str | None = None,
    method: Literal["sobol", "fanova"] = "sobol",
    samples: int = Query(16, ge=3, le=64, description="GP posterior functions (fanova: trees / 4)"),
    base: int = Query(1024, ge=64, le=8192, description="Saltelli base sample size"),
    svc: Service = Depends(service),
) -> list[dict[str, Any]]:
    """Sobol indices (S1, ST with 95% intervals) of every parameter per objective, from the
    study's GP surrogate (``nas importance``); 409 while the study has too few completed trials."""
    return svc.reads.importance(name, objective, method, samples=samples, trees=4 * samples, base=base)


@router.post(
    "/{name}/resume", status_code=202, response_model=StudyOut, responses=_ERRORS, dependencies=[Security(bearer)]
)
def resume_study(name: str, svc: Service = Depends(service)) -> dict[str, Any]:
    """Continue a stored study in the background to exactly its budget."""
    return svc.resume(name)


@router.post(
    "/{name}/stop", status_code=202, response_model=StudyOut, responses=_ERRORS, dependencies=[Security(bearer)]
)
def stop_study(name: str, svc: Service = Depends(service)) -> dict[str, Any]:
    """Hand out no more trials; the running ones finish and are stored."""
    return svc.stop(name)
