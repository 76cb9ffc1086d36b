"""harness: retrieval evaluation of embedders and indexes, quality and cost, from one suite."""

from harness.errors import HarnessError

__version__ = "0.1.0"
__all__ = ["HarnessError", "__version__"]
