"""The ``autopeft`` space: serial/parallel adapters and prefixes searched on a pretrained MiniLM."""

from search_spaces.autopeft.modules import PeftChoice, insert, parameter_count
from search_spaces.autopeft.space import AutopeftSpace

__all__ = ["AutopeftSpace", "PeftChoice", "insert", "parameter_count"]
