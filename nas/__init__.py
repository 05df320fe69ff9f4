"""Neural architecture search and sensitivity analysis: studies, optimizers, executors.

Importing ``nas`` is cheap: its public names load on first use (so ``nas`` on the command
line can move a storage password out of its argv before anything heavy is imported), and
torch, botorch and ray load only when a command needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas.spec import SpecError, StudySpec
    from nas.study import Study, TellError, create_study, load_study
    from storage import Trial, TrialState

_WHERE = {
    "SpecError": "nas.spec",
    "StudySpec": "nas.spec",
    "Study": "nas.study",
    "TellError": "nas.study",
    "create_study": "nas.study",
    "load_study": "nas.study",
    "Trial": "storage",
    "TrialState": "storage",
}

__all__ = [
    "SpecError",
    "Study",
    "StudySpec",
    "TellError",
    "Trial",
    "TrialState",
    "create_study",
    "load_study",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'nas' has no attribute {name!r}")
