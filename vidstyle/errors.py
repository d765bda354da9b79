"""Errors that mean "the user asked for something that cannot be done".

The CLI turns every :class:`VidstyleError` into a one-line message and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class VidstyleError(Exception):
    """Bad input or an impossible request, explained in one line."""


class WeightsError(VidstyleError):
    """Network weights are missing, unreachable or do not fit the model."""


class LayerError(VidstyleError):
    """A layer name is unknown or not covered by the loaded weights."""


class SettingsError(VidstyleError):
    """A setting out of range, named by its parameter: ``str()`` is e.g. "size must be > 0, got 0".

    The CLI shows it under the flag's name (``--size must be > 0, got 0``), the library under the
    parameter's, so one check serves both.
    """

    def __init__(self, param: str, detail: str):
        super().__init__(f"{param} {detail}")
        self.param = param
        self.detail = detail
