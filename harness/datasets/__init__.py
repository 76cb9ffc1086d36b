"""Dataset loaders; each turns a suite entry into a `Dataset`. Importing this package
registers the built-in kinds."""

from harness.datasets import ann, beir, irds, mteb_task
from harness.datasets.base import LOADERS, Dataset, join_title_text

__all__ = ["LOADERS", "Dataset", "ann", "beir", "irds", "join_title_text", "mteb_task"]
