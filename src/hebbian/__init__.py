"""hebbian: a local LLM that keeps learning while it talks."""

__version__ = "0.1.0"
