"""Errors for bad input: one line that says what is wrong, where, and how to fix it."""


class HarnessError(Exception):
    """A user-facing error. `str(err)` is one line: what is wrong, where, and the fix."""


class SuiteError(HarnessError):
    """A suite file is malformed: unknown key, wrong type, unknown component, missing file."""


class DatasetError(HarnessError):
    """A dataset cannot be loaded: missing file, malformed line, inconsistent ids."""


class ComponentError(HarnessError):
    """A component cannot be built: missing optional dependency, model not available offline."""
