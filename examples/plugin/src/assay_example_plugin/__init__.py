"""An example assay plugin: the ``echo:`` provider, the ``edit_similarity`` scorer and the
``shout`` task. Installing the package is all it takes; see its ``pyproject.toml``."""
