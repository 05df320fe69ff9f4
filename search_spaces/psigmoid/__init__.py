"""The ``psigmoid`` space: attention-ranked token reduction in a fine-tuned MiniLM-L6, with
per-layer keep ratios from a P-Sigmoid curve at a FLOPs budget, and G-Search."""

from search_spaces.psigmoid.gsearch import GSearchResult, g_search
from search_spaces.psigmoid.space import PSigmoidSpace

__all__ = ["GSearchResult", "PSigmoidSpace", "g_search"]
