"""mlops-handover: outsourced ML work that ends in a system the client owns."""

#: The package version; pyproject.toml reads it from here (hatch), so there is one source.
#: A literal, not importlib.metadata, which costs ~60 ms on every `handover` start.
__version__ = "0.5.0"
