"""Pieces every CLI command shares: error reporting, devices, output safety."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from flow.errors import FlowError
from vidstyle.errors import VidstyleError

if TYPE_CHECKING:  # torch is imported where a device is resolved (``vidstyle --help`` stays fast)
    import torch

# Progress bars and summaries go to stderr so stdout stays clean for piping.
console = Console(stderr=True, highlight=False)

USER_ERRORS = (VidstyleError, FlowError)


def fail(message: str) -> typer.Exit:
    """Print a one-line error and return the exit to raise (code 2)."""
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # a message's [..] is text
    return typer.Exit(code=2)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; explicit names are checked."""
    import torch

    name = name.lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise VidstyleError(f"--device {name}: CUDA is not available on this machine")
        return torch.device(name)
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise VidstyleError("--device mps: Apple MPS is not available on this machine")
        return torch.device("mps")
    raise VidstyleError(f"--device {name!r}: expected auto, cpu, cuda or mps")


def check_output(path: Path, overwrite: bool) -> Path:
    """Refuse to clobber an existing file without ``-y``; check the folder is writable."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise VidstyleError(f"{path} already exists (use -y/--overwrite to replace it)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise VidstyleError(f"output folder {parent} does not exist")
    if not parent.is_dir():
        raise VidstyleError(f"output folder {parent} is not a folder")
    import os

    if not os.access(parent, os.W_OK):
        raise VidstyleError(f"output folder {parent} is not writable")
    return path


def parse_csv(text: str | None, *, option: str) -> list[str]:
    """Split ``a,b,c`` into names; an empty list is an error."""
    if text is None:
        return []
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise VidstyleError(f"{option}: empty list")
    return items


def parse_floats(text: str | None, *, option: str) -> list[float]:
    items = parse_csv(text, option=option)
    try:
        return [float(t) for t in items]
    except ValueError:
        raise VidstyleError(f"{option}: expected comma-separated numbers, got {text!r}") from None
