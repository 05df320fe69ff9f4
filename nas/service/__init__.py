"""The HTTP service: FastAPI under uvicorn over the CLI's store, one shared Ray runtime,
bearer-token writes and a dashboard at ``/``. Start it with ``nas serve``.

Importing the package is cheap (the CLI builds its parser from it); FastAPI loads on use.
"""

from __future__ import annotations

from typing import Any

from nas.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from nas.service.app import create_app

        return create_app
    raise AttributeError(name)
