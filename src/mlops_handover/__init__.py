"""mlops-handover: outsourced ML work that ends in a system the client owns."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlops-handover")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
