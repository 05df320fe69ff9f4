"""The ``tas`` space: transformable architecture search for network pruning (Dong and Yang, 2019)."""

from search_spaces.tas.space import TasSpace, counted_flops, geometry

__all__ = ["TasSpace", "counted_flops", "geometry"]
