"""Neural architecture search and sensitivity analysis: studies, optimizers, executors.

Importing ``nas`` is cheap: torch, botorch and ray load only when a command needs them.
"""

from nas.spec import SpecError, StudySpec
from nas.study import Study, TellError, create_study, load_study
from storage import Trial, TrialState

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
