"""SQL storage of studies and trials (SQLAlchemy 2; SQLite embedded, PostgreSQL at scale).

Imports neither torch nor ray: the CLI's read commands load only this package.
"""

from storage.engine import DEFAULT_URL, StorageURLError, resolve_url
from storage.migrate import HEAD, SchemaError, upgrade
from storage.records import ObjectiveInfo, StudyInfo, StudySummary, Trial, TrialState, TrialStep
from storage.store import (
    NoDatabaseError,
    StepError,
    Store,
    StoreError,
    StudyExistsError,
    StudyNotFoundError,
    TrialStateError,
)

__all__ = [
    "DEFAULT_URL",
    "HEAD",
    "NoDatabaseError",
    "ObjectiveInfo",
    "SchemaError",
    "StepError",
    "StorageURLError",
    "Store",
    "StoreError",
    "StudyExistsError",
    "StudyInfo",
    "StudyNotFoundError",
    "StudySummary",
    "Trial",
    "TrialState",
    "TrialStateError",
    "TrialStep",
    "resolve_url",
    "upgrade",
]
