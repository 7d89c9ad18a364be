"""Training recipes: one readable file each (``classifier``, ``causal_lm``, ``sft``, ``dpo``).

Each module has a ``Config`` (its typed config) and ``run(config, env)`` (its training loop).
"""
