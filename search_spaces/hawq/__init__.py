"""The ``hawq`` space: per-layer bit-widths of a trained model (HAWQ V1-V3 sensitivity)."""

from search_spaces.hawq.space import HawqSpace, param_name

__all__ = ["HawqSpace", "param_name"]
