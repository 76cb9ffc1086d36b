"""Who runs a suite's units (harness.plan): this process, or a Ray cluster.

`local` (the default) is harness.executors.local; `ray` is harness.executors.ray_cluster. Both
hand every record to the reporter's `cell_done` in this process, where it is saved.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.executors.settings import ExecutorSettings

if TYPE_CHECKING:  # the runner imports the suite's types, which import these settings
    from harness.cache import VectorStore
    from harness.record import CellRecord
    from harness.runner import Reporter
    from harness.spec import Suite


def run(
    suite: Suite,
    reporter: Reporter,
    cache: VectorStore | None,
    skip: Collection[str],
    executor: ExecutorSettings,
) -> list[CellRecord]:
    """Run the suite's cells not in `skip` on the executor it names."""
    if executor.kind == "ray":
        from harness.executors.ray_cluster import run_on_ray

        return run_on_ray(suite, reporter, cache, skip, executor)
    from harness.executors.local import run_suite

    return run_suite(suite, reporter, cache, skip)


__all__ = ["ExecutorSettings", "run"]
