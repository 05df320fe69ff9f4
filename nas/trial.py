"""Trial types of the public API (defined next to the store that produces them)."""

from storage.records import Trial, TrialState

__all__ = ["Trial", "TrialState"]
