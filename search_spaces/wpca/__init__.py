"""The ``wpca`` space: lightweight transformer encoders scored zero-shot (W-PCA and peers)."""

from search_spaces.wpca.space import LayerReport, WpcaSpace

__all__ = ["LayerReport", "WpcaSpace"]
