"""The ``rarts`` space: RARTS (and first-order DARTS) differentiable cell or width search."""

from search_spaces.rarts.genotype import Genotype, derive, random_genotype
from search_spaces.rarts.space import RartsSpace

__all__ = ["Genotype", "RartsSpace", "derive", "random_genotype"]
