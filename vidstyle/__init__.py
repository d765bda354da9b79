"""vidstyle: temporally consistent neural style transfer for videos and still images.

Python API (the CLI calls these)::

    from vidstyle import Settings, load_image, save_image, stylize_image
    result = stylize_image(load_image("in.jpg"), [load_image("style.jpg")], settings=Settings(size=512))
    save_image(result.image, "out.png")

Images are ``(1, 3, H, W)`` float32 RGB tensors in [0, 1].
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names the lazy table below serves, for type checkers (no import at run time)
    from vidstyle.engine import (
        ResolvedSettings,
        RunResult,
        Settings,
        load_network,
        reconstruct_image,
        resolve,
        stylize_image,
        synthesize_texture,
    )
    from vidstyle.errors import LayerError, VidstyleError, WeightsError
    from vidstyle.imageio import load_image, save_image
    from vidstyle.optimize import IterationInfo, OptimizerSettings

# The public names are imported on first use (PEP 562), so that ``import vidstyle.cli`` and a
# refused command line never pay for torch: see README "Troubleshooting" and benchmarks/README.md.
_EXPORTS = {
    "ResolvedSettings": "vidstyle.engine", "RunResult": "vidstyle.engine", "Settings": "vidstyle.engine",
    "load_network": "vidstyle.engine", "resolve": "vidstyle.engine",
    "reconstruct_image": "vidstyle.engine", "stylize_image": "vidstyle.engine",
    "synthesize_texture": "vidstyle.engine",
    "LayerError": "vidstyle.errors", "VidstyleError": "vidstyle.errors", "WeightsError": "vidstyle.errors",
    "load_image": "vidstyle.imageio", "save_image": "vidstyle.imageio",
    "IterationInfo": "vidstyle.optimize", "OptimizerSettings": "vidstyle.optimize",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vidstyle' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "IterationInfo", "LayerError", "OptimizerSettings", "ResolvedSettings", "RunResult", "Settings", "VidstyleError",
    "WeightsError", "load_image", "load_network", "reconstruct_image", "resolve", "save_image", "stylize_image",
    "synthesize_texture",
]
