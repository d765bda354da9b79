"""Errors the flow package raises for bad input (the CLI maps them to exit code 2)."""

from __future__ import annotations


class FlowError(ValueError):
    """Bad input to a flow function, explained in one line."""
