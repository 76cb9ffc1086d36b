"""Errors for bad input: one line that says what is wrong, where, and how to fix it."""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """A user-facing error. `str(err)` is one line: what is wrong, where, and the fix."""


class SuiteError(HarnessError):
    """A suite file is malformed: unknown key, wrong type, unknown component, missing file."""


class DatasetError(HarnessError):
    """A dataset cannot be loaded: missing file, malformed line, inconsistent ids."""


class ComponentError(HarnessError):
    """A component cannot be built: missing optional dependency, model not available offline."""


class StoreError(HarnessError):
    """A results folder cannot be written (disk full, read-only, not a folder) or read."""


def os_problem(err: OSError, where: Path | None = None) -> str:
    """What an OSError means for a user, in a few words, with the usual fix. Some writers
    (pyarrow, numpy) raise one without an errno when the disk fills: `where`, a folder
    written to, is then checked for free space."""
    import errno
    import shutil

    known = {
        errno.ENOSPC: "disk full (no space left on device); free some space",
        errno.EDQUOT: "disk quota exceeded; free some space",
        errno.EROFS: "read-only file system; use a writable folder",
        errno.EACCES: "permission denied; use a folder you can write",
        errno.EPERM: "permission denied; use a folder you can write",
        errno.ENOTDIR: "a file stands where a folder should be; move it or use another folder",
        errno.EEXIST: "a file stands where a folder should be; move it or use another folder",
    }
    if err.errno is None and where is not None:
        try:
            if shutil.disk_usage(where).free < 1 << 20:
                return known[errno.ENOSPC]
        except OSError:
            pass
    return known.get(err.errno or 0, err.strerror or str(err))


class HarnessWarning(UserWarning):
    """Something was skipped or degraded; the command line prints it as one `warning:` line."""
