"""Model loading for commands: ``load_model(spec)`` loads with a spinner on stderr, and a spec that
names no model ends the command through ``fail``."""

from __future__ import annotations

from .console import err, fail


def load_model(spec: str):
    """``hebbian.models.load(spec)`` -> (model, tokenizer), or one error line and exit code 2."""
    from hebbian.models import ModelSpecError, load

    try:
        with err.status(f"loading {spec} ..."):
            return load(spec)
    except ModelSpecError as e:
        fail(str(e))
