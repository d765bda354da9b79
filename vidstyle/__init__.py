"""vidstyle: temporally consistent neural style transfer for videos and still images.

Python API (the CLI calls these)::

    from vidstyle import Settings, load_image, save_image, stylize_image
    result = stylize_image(load_image("in.jpg"), [load_image("style.jpg")], settings=Settings(size=512))
    save_image(result.image, "out.png")

Images are ``(1, 3, H, W)`` float32 RGB tensors in [0, 1].
"""

from vidstyle.engine import (
    RunResult,
    Settings,
    load_network,
    reconstruct_image,
    stylize_image,
    synthesize_texture,
)
from vidstyle.errors import LayerError, VidstyleError, WeightsError
from vidstyle.imageio import load_image, save_image
from vidstyle.optimize import IterationInfo, OptimizerSettings

__version__ = "0.1.0"

__all__ = [
    "IterationInfo", "LayerError", "OptimizerSettings", "RunResult", "Settings", "VidstyleError", "WeightsError",
    "load_image", "load_network", "reconstruct_image", "save_image", "stylize_image", "synthesize_texture",
]
