"""Helpers the Pre-trained Models lessons teach and use.

The offline model mirror lives in :mod:`ptm_snippets.hub`; everything a lesson imports is
listed in ``__all__`` below.
"""

from ptm_snippets.hub import MirrorError, install, model_path, published_config

__all__ = ["MirrorError", "install", "model_path", "published_config"]
