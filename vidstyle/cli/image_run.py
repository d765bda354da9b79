"""The heavy half of the still-image commands: everything after the command line was checked.

:mod:`vidstyle.cli.image_cmds` declares the options and checks them without torch, then imports
this module (torch, the engine, the image I/O) once; a refused command line never pays for it.
Each ``run_*`` resolves the settings once (:func:`prepare`), guards the memory, loads the
inputs and the network, runs, and hands the result to :func:`finish`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from vidstyle.atomic import write_json
from vidstyle.cli import options as o
from vidstyle.cli.common import console, fail, resolve_device
from vidstyle.cli.guard import guard_memory
from vidstyle.cli.progress import RunProgress, download_progress, environment, graceful_interrupt
from vidstyle.controls import load_controls, stylize_controlled
from vidstyle.engine import (
    ResolvedSettings,
    RunResult,
    Settings,
    load_network,
    needed_layers,
    reconstruct_image,
    resolve,
    synthesize_texture,
)
from vidstyle.imageio import load_image, save_image, to_uint8
from vidstyle.memory import image_header_size, scaled
from vidstyle.sweep import amplified_difference
from vidstyle.vgg import VGGFeatures


def network_for(settings: Settings | ResolvedSettings, layers: Sequence[str], device, quiet: bool) -> VGGFeatures:
    """Load VGG-19 for ``layers``, drawing a download bar if the weights must be fetched."""
    return load_network(settings, layers, device=device, progress=download_progress(quiet))


def prepare(settings: Settings, *, mode: str, device: str, quiet: bool,
            layers: list[str] | None = None) -> tuple[ResolvedSettings, torch.device]:
    """The device and the settings resolved once for ``mode`` (precision decided for the device,
    defaults filled, layer fallback noted); the notes are printed here."""
    dev = resolve_device(device)
    settings, precision_note = o.choose_precision(settings, dev)
    if precision_note and not quiet:
        console.print(f"[dim]{precision_note}[/]")
    resolved, notes = resolve(settings, mode=mode, layers=layers)
    if not quiet:
        for note in notes:
            console.print(f"[dim]{note}[/]")
    return resolved, dev


def guard_still(content: Path, size: int, layers: Sequence[str], device, settings: ResolvedSettings,
                styles: Sequence[Path]) -> None:
    """The memory guard of a still image, sized from the content file's header (nothing decoded yet)."""
    hw = image_header_size(content)
    if hw is not None:  # an unreadable file is reported by the loader
        guard_memory(scaled(hw, size), list(layers), device=device, optimizer=settings.optim.optimizer,
                     style_paths=list(styles), style_scale=settings.style_scale)


def finish(result: RunResult, output: Path, *, log: Path | None, command: str, extra: dict | None = None) -> None:
    """Save, log, print the one-line summary; a non-finite run ends with exit code 2."""
    save_image(result.image, output)
    if log is not None:
        write_json(log, {"command": command, "output": str(output), "iterations": result.iterations,
                         "stop_reason": result.stop_reason, "seconds": result.seconds, "loss": result.loss,
                         "terms": result.terms, "scales": result.scales, "settings": result.settings,
                         "history": result.history, "notes": result.notes, "environment": environment(),
                         **(extra or {})})
    if not result.finite:
        raise fail(f"{result.stop_reason}: wrote the last finite image to {output}")
    console.print(f"[green]wrote {output}[/]: {result.summary()}")


def run_image(settings: Settings, *, content: Path, styles: list[Path], style_spec: list[str], mask: Path | None,
              mask_mode: str, guide: str, colors: str, match: str, output: Path, log: Path | None, device: str,
              quiet: bool) -> None:
    """``vidstyle image``: style transfer under the mask/region/colour controls."""
    rs, dev = prepare(settings, mode="image", device=device, quiet=quiet)
    guard_still(content, rs.size, needed_layers(rs), dev, rs, styles)
    content_img = load_image(content, what="content image")
    style_imgs = [load_image(s, what="style image") for s in styles]
    # Spatial and colour control (vidstyle.controls): masks, regions, --colors; warnings are not errors.
    controls = load_controls(content_img, style_imgs, style_specs=style_spec, mask=mask, mask_mode=mask_mode,
                             guide=guide, colors=colors, color_match=match, style_blend=rs.style_blend)
    for note in controls.notes:
        console.print(f"[yellow]warning:[/] {note}")
    net = network_for(rs, needed_layers(rs), dev, quiet)
    with graceful_interrupt() as stop, RunProgress("stylize", quiet=quiet) as bar:
        result = stylize_controlled(controls, settings=rs, device=dev, net=net, callback=bar, should_stop=stop)
    result.image = controls.postprocess(result.image)
    finish(result, output, log=log, command="image",
           extra={"content": str(content), "styles": [str(s) for s in styles] + list(style_spec),
                  "mask": str(mask) if mask else None, "mask_mode": mask_mode, "guide": guide,
                  "colors": colors, "match": match, "device": str(dev)})


def run_reconstruct(settings: Settings, *, content: Path, layers: list[str] | None, diff_path: Path | None,
                    output: Path, log: Path | None, device: str, quiet: bool) -> None:
    """``vidstyle reconstruct``: content reconstruction, optionally with the amplified difference image."""
    rs, dev = prepare(settings, mode="reconstruct", device=device, quiet=quiet, layers=layers)
    matched = list(rs.content_layers)
    guard_still(content, rs.size, matched, dev, rs, [])
    content_img = load_image(content, what="content image")
    net = network_for(rs, matched, dev, quiet)
    with RunProgress("reconstruct", quiet=quiet) as bar:
        result = reconstruct_image(content_img, settings=rs, device=dev, net=net, callback=bar)
    if diff_path is not None:
        save_image(to_uint8(amplified_difference(result.image, content_img.to(result.image.device), 4.0)), diff_path)
    finish(result, output, log=log, command="reconstruct",
           extra={"content": str(content), "layers": matched, "device": str(dev)})


def run_texture(settings: Settings, *, style: Path, hw: tuple[int, int], layers: list[str] | None, output: Path,
                log: Path | None, device: str, quiet: bool) -> None:
    """``vidstyle texture``: texture synthesis of size ``hw`` from noise."""
    rs, dev = prepare(settings, mode="texture", device=device, quiet=quiet, layers=layers)
    matched = list(rs.style_layers)
    guard_memory(hw, matched, device=dev, optimizer=rs.optim.optimizer, style_paths=[style],
                 style_scale=rs.style_scale)
    style_img = load_image(style, what="style image")
    net = network_for(rs, matched, dev, quiet)
    with RunProgress("texture", quiet=quiet) as bar:
        result = synthesize_texture(style_img, size=hw, settings=rs, device=dev, net=net, callback=bar)
    finish(result, output, log=log, command="texture",
           extra={"style": str(style), "layers": matched, "device": str(dev)})
