"""The flow options of ``vidstyle flow``, ``vidstyle video`` and ``vidstyle evaluate``, declared once.

Each command lists the options as parameters annotated with the aliases below
and turns them into a :class:`FlowChoice` with :func:`flow_choice`: the method,
the backend parameters (plain values: they are part of flow-cache keys and of a
video work dir's identity) and the flow-cache folder. Every command reads and
fills the same per-user cache (``$XDG_CACHE_HOME/vidstyle/flow``) unless told
otherwise, so ``vidstyle flow`` ahead of ``vidstyle video`` saves the video run
its flow. Defaults come from :mod:`vidstyle.defaults`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from flow.errors import FlowError
from vidstyle import defaults
from vidstyle.cli.common import console
from vidstyle.cli.progress import download_progress
from vidstyle.errors import VidstyleError

FLOW = "Flow options"

METHOD_HELP = (
    "Optical flow: dis (OpenCV DIS, CPU, the default; see --preset), deepflow (OpenCV-contrib DeepFlow, CPU; it "
    "has no DeepMatching step, so it misses large motion: on Sintel's fast frames it finds a third to a half of "
    "it, and its masks do not notice), spynet "
    "(SPyNet in PyTorch, CPU or GPU; its public pretrained weights are for NON-COMMERCIAL RESEARCH ONLY: "
    "downloaded once into the torch hub cache, never bundled) or raft (torchvision's RAFT-small, CPU or GPU)."
)

Method = Annotated[str, typer.Option("--method", help=METHOD_HELP, rich_help_panel=FLOW)]
PRESET_HELP = ("DIS preset: ultrafast, fast, medium (OpenCV's) or fine (medium down to full resolution: the "
               "default, 4x medium's time, half its warp error on fast motion).")
Preset = Annotated[str, typer.Option("--preset", help=PRESET_HELP, rich_help_panel=FLOW)]
FlowWeights = Annotated[Optional[str], typer.Option(
    "--flow-weights", help="spynet/raft weights: a local file, or a SPyNet model name (sintel-final, sintel-clean, "
    f"chairs-final, chairs-clean, kitti-final; default {defaults.SPYNET_MODEL}). SPyNet weights: non-commercial "
    "research only.", rich_help_panel=FLOW)]
CacheDir = Annotated[Optional[Path], typer.Option(
    "--cache-dir", help=f"Flow cache folder, shared by flow, video and evaluate (default $XDG_CACHE_HOME/"
    f"{defaults.FLOW_CACHE_SUBDIR}, i.e. ~/.cache/{defaults.FLOW_CACHE_SUBDIR}).", rich_help_panel=FLOW)]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the flow cache.",
                                       rich_help_panel=FLOW)]

# Library messages name parameters; the user typed flags.
_FLAGS = ((re.compile(r"\bweights=FILE\b"), "--flow-weights FILE"),)


@dataclass(frozen=True)
class FlowChoice:
    """Resolved flow options: ``flow.get_backend(method, **params)`` and the cache folder (None: no cache)."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    cache_dir: Path | None = None


def default_cache_dir() -> Path:
    """The per-user flow cache: ``$XDG_CACHE_HOME/vidstyle/flow`` (default ``~/.cache/vidstyle/flow``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / defaults.FLOW_CACHE_SUBDIR


def flow_backend_params(method: str, *, preset: str = defaults.DIS_PRESET, flow_weights: str | None = None) -> dict:
    """Keyword arguments for ``flow.get_backend(method, ...)`` from the flow options (plain values only)."""
    if method not in defaults.FLOW_METHODS:
        raise VidstyleError(f"--method {method!r}: expected one of {', '.join(defaults.FLOW_METHODS)}")
    if method == "dis":
        params: dict = {"preset": preset}  # checked by the backend ("DIS preset ...: expected one of ...")
    elif preset != defaults.DIS_PRESET:
        raise VidstyleError(f"--preset is a DIS setting; --method {method} does not take it")
    else:
        params = {}
    if flow_weights is not None:
        if method not in ("spynet", "raft"):
            raise VidstyleError(f"--flow-weights is for spynet or raft; --method {method} has no weights")
        params["weights"] = flow_weights
    elif method == "spynet":
        params["weights"] = defaults.SPYNET_MODEL
    return params


def resolve_cache_dir(cache_dir: Path | None, *, no_cache: bool = False) -> Path | None:
    """The flow-cache folder a run uses (None: no cache).

    An explicit ``--cache-dir`` that cannot be written is an error; an unwritable
    default folder is a warning, and the run goes on without a cache.
    """
    from flow import FlowCache  # torch: only once a command runs

    if no_cache:
        return None
    if cache_dir is not None:
        return FlowCache(cache_dir).root  # raises FlowError naming the folder
    try:
        return FlowCache(default_cache_dir()).root
    except FlowError as exc:
        console.print(f"[yellow]warning:[/] {exc}; running without a flow cache (pass --cache-dir DIR)",
                      soft_wrap=True)
        return None


def flow_choice(method: str, *, preset: str = defaults.DIS_PRESET, flow_weights: str | None = None,
                cache_dir: Path | None = None, no_cache: bool = False) -> FlowChoice:
    """Check the flow options and resolve them (cache folder included) into a :class:`FlowChoice`."""
    if no_cache and cache_dir is not None:
        raise VidstyleError("--no-cache and --cache-dir contradict each other: pass one")
    params = flow_backend_params(method, preset=preset, flow_weights=flow_weights)
    return FlowChoice(method, params, resolve_cache_dir(cache_dir, no_cache=no_cache))


def cli_message(message: str) -> str:
    """A flow-library message with its parameter names turned into this CLI's flags."""
    for pattern, flag in _FLAGS:
        message = pattern.sub(flag, message)
    return message


def build_backend(choice: FlowChoice, *, device, quiet: bool = False):
    """The flow backend of ``choice`` on ``device``; spynet/raft weights are downloaded once, with a
    progress bar unless ``quiet``. Run before any long work, it also checks a ``--flow-weights`` file."""
    from flow import get_backend  # torch and OpenCV: only once a command runs

    extra = {"progress": download_progress(quiet)} if choice.method in ("spynet", "raft") else {}
    try:
        return get_backend(choice.method, device=device, **choice.params, **extra)
    except FlowError as exc:
        raise VidstyleError(cli_message(str(exc))) from None


def open_cache(choice: FlowChoice):
    """The :class:`flow.FlowCache` of ``choice`` (None without a cache)."""
    from flow import FlowCache  # torch: only once a command runs

    return FlowCache(choice.cache_dir) if choice.cache_dir is not None else None
