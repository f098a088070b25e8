"""Sparse autoencoders on the seed's synthetic narrative episodes and on real LLM activations.

Modules, one idea each:

- ``model``: :class:`~hebbian.sae.model.SparseAutoencoder` (ReLU, TopK, sigmoid latents);
- ``losses``: MSE, L1 scaled by decoder norms, KL (rate and per-example), AuxK;
- ``train``: the seeded MLX training loop (Adam, warm-up, unit-norm decoder, dead latents);
- ``metrics``: L0, explained variance, normalised MSE, CE loss recovered, dictionary recovery;
- ``episodes``, ``analysis``, ``synthetic``, ``claims``: the seed's synthetic phases and their tests;
- ``attention``: ``attention_received(model, tokens, layer)``, the importance signal;
- ``activations``, ``splice``, ``importance``, ``llm``: SAEs on a model's residual stream;
- ``compare``: paired/independent comparisons with Holm correction (via ``hebbian.stats``);
- ``figures``, ``report_synthetic``, ``report_llm``: reports under ``reports/sae/`` (provenance
  from ``hebbian.io.provenance``);
- ``commands``: the typer commands ``synthetic`` and ``llm`` (``hebbian sae ...``).

Nothing here imports ``hebbian.engine``.
"""
