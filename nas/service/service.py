"""The server's state and its write operations: submit, resume, stop.

Every check that can refuse a request runs before anything is written.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from nas.service.queries import Reads
from nas.service.runs import RayRuntime, Runner
from nas.service.security import refused_imports
from nas.service.settings import ServiceSettings
from nas.spec import SpecError, StudySpec, validate_study_spec
from nas.study import create_study
from storage import Store, StudyNotFoundError


class RequestError(Exception):
    """A refused request: HTTP ``status`` and a message naming the field and the fix."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


class Service:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.store = Store(settings.storage)
        self.runtime = RayRuntime(settings.address, settings.num_cpus) if settings.ray else None
        self.runner = Runner(self.store, self.runtime, self._changed)
        self.reads = Reads(self.store, self.runner, settings.cache_ttl_s)
        self._create_lock = threading.Lock()

    def start(self) -> None:
        if self.runtime is not None:
            self.runtime.start()

    def close(self) -> None:
        self.runner.shutdown()
        if self.runtime is not None:
            self.runtime.stop()

    def _changed(self, name: str) -> None:
        self.reads.cache.drop(name)

    # ---- writes ---------------------------------------------------------------------------

    def submit(self, spec: StudySpec) -> dict[str, Any]:
        self._check_imports(spec)
        validate_study_spec(spec)  # SpecError -> 422 naming the field, nothing written
        self._check(spec)
        with self._create_lock:
            if self._exists(spec.name):
                raise RequestError(
                    409,
                    f"a study named {spec.name!r} exists: choose another name, or "
                    f"POST /studies/{spec.name}/resume to continue it",
                    "name",
                )
            create_study(spec, storage=self.store.url)  # SpecError -> 422, nothing written
        self.runner.start(spec.name)
        return self.reads.status(spec.name)

    def resume(self, name: str) -> dict[str, Any]:
        study = self.reads.study(name)
        self._check_imports(study.spec)
        self._check(study.spec, stored=True)
        if self.runner.is_running(name):
            raise RequestError(409, f"study {name!r} is already running", "name")
        self.runner.start(name)
        return self.reads.status(name)

    def stop(self, name: str) -> dict[str, Any]:
        self.store.get_study(name)  # 404 first
        if not self.runner.is_running(name):
            raise RequestError(409, f"study {name!r} is not running on this server", "name")
        self.runner.stop(name)
        return self.reads.status(name)

    def _exists(self, name: str) -> bool:
        try:
            self.store.get_study(name)
        except StudyNotFoundError:
            return False
        return True

    # ---- checks beyond the spec's own ------------------------------------------------------

    def _check_imports(self, spec: StudySpec) -> None:
        """Refuse any ``module:function`` in the spec whose module is off the allow-list,
        before anything (the spec's own validation included) could import it."""
        space = spec.space.model_dump(mode="json", exclude_none=True)
        for field, module in refused_imports(space, self.settings.allow_modules):
            allowed = ", ".join(self.settings.allow_modules) or "none"
            raise RequestError(
                403,
                f"{field}: module {module!r} is not on this server's allow-list "
                f"(allowed: {allowed}); start the server with --allow-module {module}",
                field,
            )

    def _check(self, spec: StudySpec, stored: bool = False) -> None:
        """What the server refuses on top of spec validation: huge budgets, another Ray."""
        if spec.budget.trials > self.settings.max_trials:
            raise RequestError(
                422,
                f"budget.trials: {spec.budget.trials} is over this server's limit of {self.settings.max_trials}",
                "budget.trials",
            )
        if spec.optimizer.seed < 0:
            raise RequestError(422, f"optimizer.seed: {spec.optimizer.seed} must be >= 0", "optimizer.seed")
        ex = spec.executor
        if not stored and ex.address:
            raise RequestError(
                422,
                "executor.address: studies run on the server's own Ray runtime; remove it "
                "(start the server with --address to join a cluster)",
                "executor.address",
            )
        if ex.name == "ray":
            self._check_ray(ex.cpus_per_trial, ex.gpus_per_trial)

    def _check_ray(self, cpus: float, gpus: float) -> None:
        if self.runtime is None:
            raise RequestError(
                422,
                "executor.name: this server runs without Ray (--no-ray); use executor {name: local}",
                "executor.name",
            )
        have = self.runtime.cpus()
        if have is not None and cpus > have:
            raise RequestError(
                422,
                f"executor.cpus_per_trial: {cpus:g} is more than the server's Ray has ({have:g})",
                "executor.cpus_per_trial",
            )


def spec_error_detail(e: SpecError) -> list[dict[str, Any]]:
    """FastAPI-style 422 entries, one per line of a :class:`SpecError`, each naming its field."""
    out = []
    for line in str(e).splitlines():
        line = line.strip()
        if not line or line == "invalid study spec:":
            continue
        m = re.match(r"^([A-Za-z_][\w.\[\]]*):\s", line)
        loc: list[Any] = ["body"]
        if m:
            loc += [int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", m.group(1)) if p]
        out.append({"loc": loc, "msg": line, "type": "value_error"})
    return out or [{"loc": ["body"], "msg": str(e), "type": "value_error"}]
