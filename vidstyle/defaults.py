"""The one place that holds vidstyle's defaults; the CLI and the API read them here.

Loss weights depend on the weight source, because the two VGG-19 conventions
see pixels differently: torchvision's network takes RGB normalised by the
ImageNet mean/std (values of order 1), the Caffe network takes BGR in 0..255
minus the mean pixel (values of order 100). Feature maps therefore differ by
roughly a factor r ~ 255 in magnitude, content losses (squared features) by
r^2 and Gram-based style losses (fourth power) by r^4.

* ``caffe`` weights were tuned by eye on the real Oxford weights at 256-512 px
  (see README "Loss weights"): they keep neural-style's style/content balance
  once its conventions are mapped onto ours (image in [0, 1], TV on [0, 1]
  pixels, per-layer style weights that sum to 1).
* ``torchvision`` weights are derived from the Caffe ones by r = 255 (content
  x r^2, style x r^4), which lifts each feature term back to the Caffe
  magnitudes, so the pixel-space weights (TV, temporal) are shared by both.
  The style/content ratio, 2.2e6, is within 2x of the PyTorch tutorial's
  content 1 / style 1e6 for CHW-normalised Grams.

Gram normalisation ``hw`` multiplies a layer's Gram by C and ``none`` by C*H*W,
so their default style weights are divided by 256^2 and (256*64*64)^2, the
values at relu3_1 of a 256 px image; they are starting points, not tuned.
"""

from __future__ import annotations

from dataclasses import dataclass

# Weight sources (vidstyle.weights has the registry: origin, licence, file); each reads
# images in one of two input conventions, and the loss weights follow the convention.
MODELS = ("original", "caffe", "torchvision")
MODEL = "original"  # bundled with the install (8-bit original Oxford VGG-19): nothing to download
MODEL_CONVENTIONS = {"original": "caffe", "caffe": "caffe", "torchvision": "torchvision"}
POOLINGS = ("max", "avg")
GRAM_NORMS = ("chw", "hw", "none")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("noise", "content")  # or a path to an image file

# Layers of Gatys et al. 2016 (content conv4_2 taken after its ReLU, as most ports do).
CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# When the weights stop early (e.g. ../shared's conv1_1..conv3_4 file) and the
# user named no layers, these are used instead and the CLI says so.
SHALLOW_CONTENT_LAYERS = ("relu3_2",)
SHALLOW_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
TEXTURE_LAYERS = STYLE_LAYERS
RECONSTRUCT_LAYERS = ("conv4_2",)
SHALLOW_RECONSTRUCT_LAYERS = ("conv3_2",)

SIZE = 512  # long side of the output, px
TEXTURE_SIZE = (256, 256)  # H, W
ITERATIONS = 500
MIN_ITERATIONS = 20  # early stop never fires before this (a 1-2 iteration stop gives blurry frames)
TOL = 1e-4  # mean relative loss decrease per iteration over the window
TOL_WINDOW = 10
ADAM_LR = 0.02  # pixels live in [0, 1]
LBFGS_HISTORY = 30  # curvature pairs; 100 costs 0.6 GB at 512 px for little gain
SEED = 0
STYLE_SCALE = 1.0
POOLING = "max"
GRAM_NORM = "chw"
OPTIMIZER = "lbfgs"
INIT = "noise"  # reconstruction and texture start from noise
IMAGE_INIT = "content"  # style transfer converges in far fewer iterations from the content (README)
# The start image of each mode when none is given (vidstyle.engine.resolve applies it; the CLI shows it).
# A video's frame 0 starts from its content frame; its later frames follow VIDEO_INIT.
INIT_BY_MODE = {"image": IMAGE_INIT, "reconstruct": INIT, "texture": INIT, "video": "content"}
NOISE_STD = 0.1  # around mid-grey; pixel units in [0, 1]
SCALES = "auto"  # halve from --size down to >= SCALE_MIN
SCALE_MIN = 128
# Coarse scales of a still run (and of video frame 0) only lay out the picture for the next scale: measured
# at 256 px, full depth (benchmarks/README.md "Coarse-scale budget"), 128 px running to the 1e-4 stop took 319
# evaluations, a 50-iteration cap with a 1e-3 stop 52, and the final scale reached the same loss (+-0.02 %)
# and passed the reference's 300-iteration loss at the same iteration.
STILL_COARSE_ITERATIONS = 50
STILL_COARSE_TOL = 1e-3
# Arithmetic of the VGG forward/backward (vidstyle.precision): the image, optimizer state, Grams and
# losses stay float32. auto takes half precision only where a one-off check finds it faster.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRECISION = "auto"
AUTO_PRECISION_MAX_RATIO = 0.85  # half must take < 0.85x the fp32 time per pass to be chosen
PRECISION_CACHE = "vidstyle/precision.json"  # under $XDG_CACHE_HOME (default ~/.cache)
# Convolutions with this many output channels or more (conv3_1 to conv5_1) run by Winograd's F(2x2, 3x3) on the
# CPU, bf16 and float32 (vidstyle.winograd): 0.62-0.88x the direct time there; below it the transforms cost about
# as much as they save or more (conv2_2: 0.93x bf16, 1.5x fp32; benchmarks/README.md, "Winograd convolutions").
WINOGRAD_MIN_OUT_CHANNELS = 256


@dataclass(frozen=True)
class LossWeights:
    content: float
    style: float
    tv: float


# Tuned for Gram normalisation "chw"; see the module docstring.
_CAFFE_CHW = LossWeights(content=30.0, style=1e3, tv=1e2)
_R = 255.0


def loss_weights(model: str, gram_norm: str = GRAM_NORM) -> LossWeights:
    """Default content/style/TV weights for a weight source (or convention) and Gram normalisation."""
    if model not in MODEL_CONVENTIONS:
        raise ValueError(f"unknown model {model!r}")
    if gram_norm not in GRAM_NORMS:
        raise ValueError(f"unknown gram norm {gram_norm!r}")
    w = _CAFFE_CHW
    if MODEL_CONVENTIONS[model] == "torchvision":
        w = LossWeights(content=w.content * _R**2, style=w.style * _R**4, tv=w.tv)
    if gram_norm == "hw":
        w = LossWeights(w.content, w.style / 256.0**2, w.tv)
    elif gram_norm == "none":
        w = LossWeights(w.content, w.style / (256.0 * 64 * 64) ** 2, w.tv)
    return w


def temporal_weight(model: str, gram_norm: str = GRAM_NORM) -> float:
    """Default lambda_t of the video temporal loss (pixels in [0, 1]); see the "# Video" section."""
    if model not in MODEL_CONVENTIONS:
        raise ValueError(f"unknown model {model!r}")
    if gram_norm not in GRAM_NORMS:
        raise ValueError(f"unknown gram norm {gram_norm!r}")
    # The temporal loss reads pixels, not features, so it needs no per-model factor:
    # each model's content/style weights already give its terms the caffe magnitudes.
    return TEMPORAL_PER_CONTENT * _CAFFE_CHW.content

# Spatial and colour control (vidstyle.controls, vidstyle.masks, vidstyle.color), experiment sweeps (vidstyle.sweep).
MASK_MODES = ("guided", "blend")
MASK_MODE = "guided"  # Gatys et al. 2017 guided Gram matrices; "blend" composites by the mask
GUIDES = ("simple", "inside", "all")
GUIDE = "simple"  # mask-to-layer downsampling: resize
MASK_ASPECT_TOLERANCE = 0.02  # a mask within 2% of the content's aspect ratio is resized (with a warning)
COLOR_MODES = ("style", "original", "luminance", "match")
COLORS = "style"
COLOR_MATCHES = ("pca", "chol", "sym")
COLOR_MATCH = "pca"
SWEEP_MODES = ("content-layers", "style-layers", "seeds", "grid", "style-weight", "content-weight", "iterations",
               "init")
SWEEP_SEEDS = (0, 1)
SWEEP_ITERATIONS = (50, 100, 200)
SWEEP_WEIGHT_FACTORS = (0.1, 1.0, 10.0)  # x the default weight when no --values are given
SWEEP_DIFF_GAIN = 4.0  # amplification of |seed a - seed b| difference images
SWEEP_CELL = 128  # long side of a contact-sheet cell, px (cells are shrunk to it, never enlarged)
SWEEP_SIZE = 256  # default --size of sweep runs (many runs: smaller than a single image's)
SWEEP_CONTENT_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")  # Gatys et al. 2016, fig. 1

# Video (vidstyle.video.pipeline, vidstyle.video.evaluate; README "Video" has the derivations).
# Ruder et al. 2016: lambda_t = 1e3 on a mean over Caffe pixels in 0..255 with content weight 5,
# i.e. 1e3 * 255^2 / 5 = 1.3e7 per unit of content weight on our [0, 1] pixels. Measured on Sintel
# (README "Temporal weight"): E_temp 20x below warped-init-only, style loss +50%; 10x more costs more style.
TEMPORAL_PER_CONTENT = 1.3e7
VIDEO_INITS = ("prev-warped-all", "prev-warped", "prev", "content", "noise")
# Ruder et al. 2016's start: the warped previous result everywhere inside the frame, occlusions included (the
# content frame only where the flow samples outside). With the DIS fine flow, on 24 Sintel frames at 192 px
# (fast motion included; benchmarks/README.md "The start image"), it gave E_temp 0.75x, style loss 0.87x and
# content loss 1.02x of "prev-warped" (the warped result where the mask trusts it, the content frame elsewhere).
# "prev-warped" was the default while the flow was DeepFlow: where DeepFlow missed Sintel's fast motion the
# warped-everywhere start carried misplaced texture on (flash score 6.2 against 4.1); with a flow that follows
# the motion that no longer happens (flash score 1.5 against 1.2).
VIDEO_INIT = "prev-warped-all"
VIDEO_SIZE = 448  # long side of the stylized frames, px (rounded to even dimensions)
FIRST_ITERATIONS = 500  # frame 0 and each new shot: a still-image run
# Later frames start from the warped previous result, near their answer. Measured on Sintel, full depth
# (benchmarks/README.md "Later frames at full depth"): 150 iterations with the still-image stop (1e-4) never
# stopped early; a 40-iteration cap with a warm-start stop and the "prev-warped-all" start cost 0.27x the
# evaluations for E_temp -24 %, style +4 % and content +7 % at 256 px (-29 %, +7 %, +11 % at 448 px). Over the
# pixels, 20 iterations cost style +20-24 %; over a 2-level Laplacian pyramid of the image (FRAME_PYRAMID,
# "A pyramid for later frames") 20 iterations give E_temp -31 %, style +8 %, content +20 % at 448 px (256 px:
# -24 %, +10 %, +15 %), at half the time of 40 over the pixels. Half-size iterations first cost more in the end
# (the full-size finish has to restore the detail), and so did handing L-BFGS's memory from frame to frame, a
# bicubic warp or a lower temporal weight.
FRAME_ITERATIONS = 20
FRAME_PYRAMID = 2  # Laplacian-pyramid levels later frames optimize over (0: the pixels); 3 and 5 did worse at 256 px
# L-BFGS's first step over a pyramid moves the largest coefficient this far (over the pixels: 0.05 of a pixel's
# range; a coarse coefficient moves many pixels). At 0.05, 3 of 5 later frames at 448 px backtracked once, at
# iterations 5-14 (21.6 evaluations a frame); at 0.02 none did (21.0), style and content within 1 %, E_temp
# +4 % (benchmarks/README.md, "The first step over the pyramid").
PYRAMID_FIRST_STEP = 0.02
VIDEO_SCALES = "auto"  # frame 0 and new shots only; later frames use FRAME_SCALES
FRAME_SCALES = (1.0,)  # later frames: fractions of the frame size, ascending, ending at 1
COARSE_ITERATIONS = 30  # per coarse scale of a later frame
FRAME_MIN_ITERATIONS = 10  # the warm-start early stop of later frames
FRAME_TOL = 1e-3
FRAME_TOL_WINDOW = 5
CARRY_MEMORY = False  # later frames start with the previous frame's L-BFGS curvature pairs
LONG_TERM = (1,)  # earlier frames used by the temporal loss; Ruder et al.'s long-term set is 1,2,4
PASSES = 1
MULTIPASS_BLEND = 0.5  # delta of Ruder et al. 2018: weight of the warped neighbour in a pass's init
MULTIPASS_TEMPORAL_FROM = 2  # the temporal loss is on from this pass (1-based) when --passes > 1
SHOT_THRESHOLD = 0.2  # a frame with less than this reliable fraction starts a new shot
# DIS at full resolution ("fine"), not OpenCV's DeepFlow: on Sintel's fast-motion frames (15-30 px a frame at 448
# px) DeepFlow, which has no DeepMatching step, returned a third to a half of the motion in both directions, so its
# forward-backward check passed and the temporal loss held texture still while the scene moved (warp error 3-22x
# DIS fine's on those frames, whole-clip flash score 4.2 against 1.2). benchmarks/README.md "Flow on fast motion".
FLOW_METHOD = "dis"
FLOW_AHEAD = 2  # frames whose flow the background worker may compute ahead of the stylizer
VIDEO_CODEC = "libx264"
VIDEO_CRF = 18
PREVIEW_SIZE = 256  # --preview N: long side and iteration budgets are cut to these
PREVIEW_FIRST_ITERATIONS = 100
PREVIEW_ITERATIONS = 40

# Flow (`vidstyle flow`, the flow/ package). The method default is FLOW_METHOD above.
FLOW_METHODS = ("deepflow", "dis", "spynet", "raft")
DIS_PRESET = "fine"  # ultrafast | fast | medium (OpenCV's presets) | fine (medium down to full resolution)
SPYNET_MODEL = "sintel-final"  # public SPyNet weights used when --flow-weights is not given
FLOW_CACHE_SUBDIR = "vidstyle/flow"  # under $XDG_CACHE_HOME (default ~/.cache)

# Chunk-parallel video on Ray (vidstyle.video.chunks / parallel; README "Parallel runs").
CHUNK_LENGTH = 240  # frames per chunk at most; by default one chunk per worker up to this
SEAM_OVERLAP = 3  # frames re-run after each seam, cross-fading from the chunk before (jump / (K+1) per step)


def flow_params(method: str, given: dict | None = None) -> dict:
    """The flow backend's keyword arguments: ``given`` over this module's defaults (DIS: ``DIS_PRESET``), so
    the library and the CLI open the same flow for the same method."""
    base = {"preset": DIS_PRESET} if method == "dis" else {}
    return base | dict(given or {})
