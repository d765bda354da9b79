"""Run-level guards of the CLI: the memory estimate before any optimization, out-of-memory errors
during one, where a video's work dir may live, and what is left of it after a finished video."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from vidstyle.errors import VidstyleError
from vidstyle.video.outputs import is_sequence_path, sequence_folder


def guard_memory(hw: tuple[int, int], layers: Sequence[str], *, device, optimizer: str,
                 style_paths: Sequence[Path] = (), style_scale: float = 1.0, video: bool = False,
                 sizes_for: Callable[[int], tuple[int, int]] | None = None, option: str = "--size") -> None:
    """Refuse a run whose estimated peak memory exceeds what ``device`` has free, naming the estimate,
    what is free and the largest ``option`` value that fits (``sizes_for(n)``: the (H, W) for value n)."""
    from vidstyle import memory

    styles = [memory.image_header_size(p) for p in style_paths]
    styles = [s for s in styles if s is not None]

    def est(frame_hw):
        long_side = max(1, round(max(frame_hw) * style_scale))
        return memory.estimate(frame_hw, layers, optimizer=optimizer, video=video,
                               style_hw=[memory.scaled(s, long_side) for s in styles])

    need = est(hw)
    free, where = memory.available_bytes(device)
    if free is None or need.total <= free:
        return
    sizes_for = sizes_for or (lambda n: memory.scaled(hw, n))
    best = memory.largest_size(lambda n: est(sizes_for(n)).total <= free, 16, max(hw))
    advice = (f"the largest {option} that fits is {best}" if best is not None
              else "not even the smallest size fits: free some memory or use another --device")
    raise VidstyleError(f"{option} {max(hw)}: this run needs about {memory.gib(need.total)} of memory "
                        f"({hw[1]}x{hw[0]} px) but the {where} is {memory.gib(free)}; {advice}")


def out_of_memory(exc: BaseException) -> str | None:
    """A one-line message when ``exc`` is torch running out of memory (CUDA, MPS or CPU), else None."""
    import sys

    torch = sys.modules.get("torch")
    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)) if t)
    text = str(exc)
    if (oom_types and isinstance(exc, oom_types)) or isinstance(exc, MemoryError) \
            or "can't allocate memory" in text or "out of memory" in text.lower():
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        for key in ("CUDA out of memory", "MPS backend out of memory", "DefaultCPUAllocator"):
            if key in text:  # the readable part, past torch's "[enforce fail at ...]" prefix
                first = text[text.index(key):].splitlines()[0]
                break
        return f"out of memory during the run ({first[:160]}); try a smaller --size"
    return None


def check_work_dir(work_root: Path, output: Path) -> None:
    """The work dir must not lie inside (or be) a PNG-sequence output's folder, nor be the output file."""
    work = Path(work_root).resolve()
    if is_sequence_path(output):
        folder = sequence_folder(output).resolve()
        if work == folder or folder in work.parents:
            raise VidstyleError(f"work dir {work_root} lies inside the output folder {folder}: pass another "
                                "--work-dir (the output folder is replaced as a whole when the video is done)")
    elif work == Path(output).resolve():
        raise VidstyleError(f"--work-dir {work_root} is the output file")


def work_dir_summary(root: Path, *, keep: bool, cache_inside: bool) -> str:
    """Remove the work dir of a finished video (``keep=False``) or say what it holds and why it stays."""
    from rich.markup import escape

    from vidstyle import memory
    from vidstyle.video.workdir import folder_bytes

    size = memory.gib(folder_bytes(root))
    shown = escape(str(root))  # a path is text, not rich markup
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
        return f"[dim]removed work dir {shown} ({size}; --no-keep-work)[/]"
    why = "frames and flow cache" if cache_inside and (Path(root) / "flow").is_dir() else "frames"
    return (f"[dim]work dir {shown} ({size}: {why}) kept: the same command re-encodes without restyling "
            f"(flows stay in the flow cache); remove it or pass --no-keep-work[/]")
