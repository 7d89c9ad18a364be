"""Models: one protocol (``protocol.py``), one facade (``facade.py``), one file per backend."""
