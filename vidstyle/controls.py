"""Spatial and colour control of one image or video frame, as terms for the engine.

:func:`frame_controls` turns mask/region/colour options into a
:class:`FrameControls`; that builds its own term list (content, plain or guided
style, TV: :meth:`FrameControls.terms`) and its parametrisation (plain, or
mask-blended: :meth:`FrameControls.parametrisation`), which
:func:`stylize_controlled` (a still image) or the video pipeline (plus its
temporal terms) hand to :func:`vidstyle.engine.run_scales`. Dependencies run
one way: controls -> engine, guided, masks, color.

Images are ``(1, 3, H, W)`` float32 RGB in [0, 1]; masks ``(1, 1, H, W)`` with
1 = styled (DESIGN.md). Library code never prints: warnings come back in ``.notes``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vidstyle import color, defaults
from vidstyle.engine import (
    ResolvedSettings,
    RunResult,
    Settings,
    content_hw,
    content_term,
    load_network,
    needed_layers,
    resolve,
    run_scales,
    style_term,
)
from vidstyle.errors import SettingsError, VidstyleError
from vidstyle.guided import GuidedStyleTerm, layer_guides
from vidstyle.imageio import load_image
from vidstyle.masks import fit_mask, load_mask, mask_warnings, parse_region, resize_mask
from vidstyle.optimize import IterationInfo
from vidstyle.tensors import check_image
from vidstyle.terms import (
    MaskBlend,
    Parametrisation,
    Plain,
    TargetCache,
    Term,
    TermsFactory,
    TVTerm,
    check_size,
    layer_weights,
    style_targets,
)
from vidstyle.vgg import VGGFeatures


@dataclass(frozen=True)
class Region:
    """One styled region: its style image(s) (each ``(1, 3, H, W)`` in [0, 1], blended
    by ``blend`` like ``--style-blend``) and its mask on the content, ``(1, 1, H, W)`` in [0, 1]."""

    styles: tuple[torch.Tensor, ...]
    mask: torch.Tensor
    blend: tuple[float, ...] | None = None
    label: str = ""


def guided_style_term(net: VGGFeatures, regions: Sequence[Region], hw: tuple[int, int], *, layers: Sequence[str],
                      layer_weights: dict[str, float], weight: float, norm: str = defaults.GRAM_NORM,
                      guide: str = defaults.GUIDE, style_scale: float = defaults.STYLE_SCALE, device=None,
                      targets: TargetCache | None = None) -> GuidedStyleTerm:
    """The :class:`~vidstyle.guided.GuidedStyleTerm` of ``regions`` for one scale of size ``hw``.

    Each region's mask is resized to ``hw`` and turned into per-layer guides
    (``guide`` mode); its style images give plain (unguided) Gram targets at
    long side ``style_scale * max(hw)``, through ``targets`` when given.
    """
    compute = targets or style_targets
    long_side = max(1, round(max(hw) * style_scale))
    all_guides, all_grams = [], []
    for region in regions:
        m = resize_mask(region.mask.to(device), hw)
        all_guides.append(layer_guides(m, layers, guide))
        all_grams.append(compute(net, list(region.styles), list(layers), long_side=long_side,
                                 blend=region.blend, norm=norm, device=device))
    return GuidedStyleTerm(all_guides, all_grams, layer_weights, weight, norm,
                           labels=[r.label or f"region {i + 1}" for i, r in enumerate(regions)])


@dataclass
class FrameControls:
    """Mask/region/colour options applied to one image or video frame.

    Build with :func:`frame_controls`. ``content`` and ``styles`` are what the
    optimization sees (after colour preprocessing; ``styles`` is empty in
    guided mode, whose styles live in ``regions``); ``original`` is the content
    as given. Run with :func:`stylize_controlled`, then :meth:`postprocess`.
    """

    content: torch.Tensor
    styles: list[torch.Tensor]
    regions: list[Region]
    original: torch.Tensor
    mask_mode: str = defaults.MASK_MODE
    guide: str = defaults.GUIDE
    colors: str = defaults.COLORS
    notes: list[str] = field(default_factory=list)

    @property
    def spatial(self) -> bool:
        return bool(self.regions)

    @property
    def guided(self) -> bool:
        return self.spatial and self.mask_mode == "guided"

    @property
    def styled(self) -> torch.Tensor | None:
        """Where some region is styled, ``(1, 1, H, W)`` (the union of the masks), or None without masks."""
        if not self.regions:
            return None
        return torch.stack([r.mask for r in self.regions]).amax(0)

    def terms(self, net: VGGFeatures, settings: ResolvedSettings, device=None, *,
              targets: TargetCache | None = None) -> TermsFactory:
        """This frame's terms per scale: content, style (guided per region, or plain), TV.

        ``targets``: e.g. a :class:`~vidstyle.terms.TargetCache` kept across frames.
        Notes of the guided term (a region empty at a layer) are added to ``.notes``.
        """
        s = settings
        content = self.content.to(device)
        lw = layer_weights(s.style_layers, s.style_layer_weights)

        def make(hw: tuple[int, int]) -> list[Term]:
            style: Term
            if self.guided:
                guided = guided_style_term(net, self.regions, hw, layers=s.style_layers, layer_weights=lw,
                                           weight=s.style_weight, norm=s.gram_norm, guide=self.guide,
                                           style_scale=s.style_scale, device=device, targets=targets)
                self.notes.extend(n for n in guided.notes if n not in self.notes)
                style = guided
            else:
                style = style_term(net, s, self.styles, hw, device, targets)
            return [content_term(net, s, content, hw, device), style, TVTerm(s.tv_weight)]

        return make

    def parametrisation(self, device=None) -> Parametrisation:
        """:class:`~vidstyle.terms.MaskBlend` for ``--mask-mode blend``, else the plain pixels."""
        if not self.spatial or self.mask_mode != "blend":
            return Plain()
        return MaskBlend(self.content.to(device), self.regions[0].mask.to(device))

    def postprocess(self, image: torch.Tensor) -> torch.Tensor:
        """Colour postprocessing of the optimized image (luminance swap for ``original``/``luminance``)."""
        return color.apply_colors(image, self.original, self.colors)

    def with_masks(self, masks: Sequence[torch.Tensor], content: torch.Tensor | None = None) -> FrameControls:
        """The same controls with new region masks (one per region, e.g. a mask video's next
        frame) and optionally a new content frame; the style tensors are kept, so a
        :class:`~vidstyle.terms.TargetCache` keeps hitting. Masks are fitted to the content like in
        :func:`frame_controls`; new warnings go to ``.notes``."""
        if len(masks) != len(self.regions):
            raise ValueError(f"{len(masks)} masks for {len(self.regions)} regions")
        original = self.original if content is None else content
        opt_content = self.content if content is None else color.preprocess_content(content, self.colors)
        hw = (int(original.shape[-2]), int(original.shape[-1]))
        notes: list[str] = []
        regions = []
        for r, m in zip(self.regions, masks):
            m, n = fit_mask(m, hw, what=r.label or "mask")
            notes += n
            regions.append(Region(r.styles, m, r.blend, r.label))
        return FrameControls(opt_content, self.styles, regions, original, self.mask_mode, self.guide, self.colors,
                             notes)


def frame_controls(content: torch.Tensor, styles: Sequence[torch.Tensor] = (), *,
                   mask: torch.Tensor | None = None, regions: Sequence[Region] | None = None,
                   mask_mode: str = defaults.MASK_MODE, guide: str = defaults.GUIDE,
                   colors: str = defaults.COLORS, color_match: str = defaults.COLOR_MATCH,
                   style_blend: Sequence[float] | None = None,
                   color_reference: torch.Tensor | None = None) -> FrameControls:
    """Turn mask/region/colour options into the controls of one frame.

    ``content`` ``(1, 3, H, W)``; ``styles`` whole-image style images;
    ``mask`` ``(1, 1, h, w)`` (the styles apply only where it is 1; fitted to
    the content by :func:`vidstyle.masks.fit_mask`); ``regions`` each with their own styles
    and mask (not together with ``mask`` or ``styles``).
    ``color_reference`` is the image whose colours ``match``/``luminance`` fit
    the styles to (default: ``content``; for a video, pass one frame for all).
    Raises :class:`VidstyleError` for contradictory options; warnings are in ``.notes``.
    """
    if mask_mode not in defaults.MASK_MODES:
        raise SettingsError("mask_mode", f"{mask_mode!r}: expected one of {', '.join(defaults.MASK_MODES)}")
    if guide not in defaults.GUIDES:
        raise SettingsError("guide", f"{guide!r}: expected one of {', '.join(defaults.GUIDES)}")
    color.check_mode(colors, color_match)
    check_image(content, "content image", batch=1)
    regions = list(regions or [])
    styles = list(styles)
    hw = (int(content.shape[-2]), int(content.shape[-1]))
    notes: list[str] = []
    if regions and mask is not None:
        raise VidstyleError("use either --mask (with the style images) or --style IMAGE:MASK regions, not both")
    if regions and styles:
        raise VidstyleError("style images without a mask cannot be mixed with --style IMAGE:MASK regions; "
                            "give every style its mask")
    if not regions and not styles:
        raise VidstyleError("at least one style image is needed")
    if mask is not None:
        regions = [Region(tuple(styles), mask, tuple(style_blend) if style_blend else None, "mask")]
    if len(regions) > 1 and mask_mode == "blend":
        raise SettingsError("mask_mode", f"blend composites one styled region; {len(regions)} regions need "
                            "--mask-mode guided")
    fitted = []
    for i, r in enumerate(regions):
        what = r.label or f"mask of region {i + 1}"
        if r.mask.dim() != 4 or tuple(r.mask.shape[:2]) != (1, 1):
            raise ValueError(f"{what} must be (1, 1, H, W), got shape {tuple(r.mask.shape)}")
        m, n = fit_mask(r.mask, hw, what=what)
        notes += n + mask_warnings(m, what=what)
        fitted.append(Region(r.styles, m, r.blend, r.label))
    reference = content if color_reference is None else color_reference
    opt_content = color.preprocess_content(content, colors)
    opt_regions = [Region(tuple(color.preprocess_styles(r.styles, reference, colors, color_match)), r.mask, r.blend,
                          r.label) for r in fitted]
    if opt_regions and mask_mode == "blend":  # one region: its styles give the plain term over the composite
        opt_styles = list(opt_regions[0].styles)
    elif opt_regions:
        opt_styles = []
    else:
        opt_styles = color.preprocess_styles(styles, reference, colors, color_match)
    return FrameControls(opt_content, opt_styles, opt_regions, content, mask_mode, guide, colors, notes)


def stylize_controlled(controls: FrameControls, *, settings: Settings | ResolvedSettings = Settings(),
                       device=None, net: VGGFeatures | None = None,
                       callback: Callable[[IterationInfo], None] | None = None,
                       init: str | torch.Tensor | None = None, should_stop: Callable[[], bool] | None = None,
                       targets: TargetCache | None = None) -> RunResult:
    """Style transfer of one image under ``controls`` (masks, regions, colours); the result is the
    optimized image (apply :meth:`FrameControls.postprocess` for the colours of ``--colors``)."""
    rs, _ = resolve(settings, mode="image")
    content = controls.content
    hw = content_hw(content, rs.size)
    layers = needed_layers(rs)
    check_size(hw, layers, aspect_of=(int(content.shape[-2]), int(content.shape[-1])))
    if net is None:
        net = load_network(rs, layers, device=device)
    return run_scales(net, controls.terms(net, rs, device, targets=targets), hw, rs, layers,
                      content=content.to(device), init=init, callback=callback, device=device,
                      should_stop=should_stop, param=controls.parametrisation(device))


def load_style_specs(specs: Sequence[str]) -> tuple[list[torch.Tensor], list[Region]]:
    """``--style`` values -> (plain style images, regions): ``STYLE`` is a whole-image style,
    ``STYLE:MASK`` a region. Missing files raise :class:`VidstyleError` naming them."""
    plain, regions = [], []
    for spec in specs:
        style, mask = parse_region(spec)
        if not style.exists():
            raise SettingsError("style", f"{spec}: style image {style} not found")
        if mask is None:
            plain.append(load_image(style, what="style image"))
            continue
        if not mask.exists():
            raise SettingsError("style", f"{spec}: mask file {mask} not found")
        regions.append(Region((load_image(style, what="style image"),), load_mask(mask, what=f"mask {mask}"),
                              label=f"mask {mask}"))
    return plain, regions


def load_controls(content: torch.Tensor, styles: Sequence[torch.Tensor], *, style_specs: Sequence[str] = (),
                  mask: str | Path | None = None, mask_mode: str = defaults.MASK_MODE, guide: str = defaults.GUIDE,
                  colors: str = defaults.COLORS, color_match: str = defaults.COLOR_MATCH,
                  style_blend: Sequence[float] | None = None) -> FrameControls:
    """:func:`frame_controls` from command-line values: ``styles`` already loaded,
    ``style_specs`` the ``--style STYLE[:MASK]`` values, ``mask`` a mask file."""
    plain, regions = load_style_specs(style_specs)
    mask_t = None
    if mask is not None:
        if not Path(mask).exists():
            raise SettingsError("mask", f"{mask}: no such file")
        mask_t = load_mask(mask, what=f"--mask {mask}")
    return frame_controls(content, list(styles) + plain, mask=mask_t, regions=regions, mask_mode=mask_mode,
                          guide=guide, colors=colors, color_match=color_match, style_blend=style_blend)
