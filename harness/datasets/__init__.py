"""Dataset loaders; each turns a suite entry into a `Dataset`."""

from harness.datasets.base import Dataset, join_title_text
from harness.datasets.beir import LOADERS

__all__ = ["LOADERS", "Dataset", "join_title_text"]
