"""The default-model rule: which shipped model an input file gets when no `--model` is given.

Kinds of input, one model each per scale and provider (`sronnx.core.shipped`):

* `clean`: images as the standard protocol makes them (a clean downscale), lossless files
  without visible noise. The clean models (`rsp-xN`) gain most there.
* `photo`: images as photos people keep arrive: JPEG files, and noisy images. The photo
  models (`rsp-xN-photo`, trained with `sronnx train --degradation photo`) remove JPEG
  blocking and noise instead of sharpening them.
* `jpeg` (where a scale ships one): JPEG-compressed inputs alone; the JPEG models
  (`rsp-xN-jpeg`, the photo model fine-tuned on `--degradation photo-jpeg`) deblock a
  little better than the photo model. Without one, `jpeg` inputs get the photo model.

The rule (`classify`), from the file alone:

1. A JPEG file whose estimated quality (`assess.jpeg_quality`, from its own quantization
   tables) is at most `JPEG_MAX_QUALITY` is `jpeg`; above that (a nearly lossless JPEG)
   it is judged like any other file. A lossy WebP is `jpeg`.
2. Any other still image is `jpeg` when it shows a JPEG's 8x8 blocking (`assess.blockiness`
   at least `BLOCKINESS`: a JPEG saved again as PNG), `photo` when its estimated noise
   (`assess.noise_sigma`, 0..255 units, from its weak-texture opaque patches) is at least
   `NOISE_SIGMA`; else `clean` (also when no noise can be told from its texture).
3. Animations are `clean` (their frames are often palette images, whose dithering is not
   noise to remove).

Thresholds and their evidence: `bench/results/robustness/README.md`.

Videos get one model for the whole video (`classify_video`, from its codec and first frame;
switching per frame would flicker):

1. A lossless codec (FFV1, raw, PNG, ...): the still-image rule on the first frame.
2. A lossy codec (H.264, HEVC, VP9, AV1, ...) whose first frame shows at least
   `VIDEO_BLOCKINESS` of 8x8 blocking (`assess.blockiness`, lower than the still images'
   `BLOCKINESS`: the codecs' deblocking filters hide most of it) is `photo`.
3. Any other lossy video: the still-image rule on the first frame (`clean` unless noisy).

Evidence (`bench/video_quality.py`, training clips only): on clips bicubic-downscaled by 2, 3
and 4 and encoded as H.264 at CRF 18/23, H.265 CRF 28 and VP9 CRF 40, the clean models gain
the most over bicubic; at H.264 CRF 28 and 33 the photo and JPEG models do (about equal, the
photo model 0.01 dB ahead on average). The first frame's blocking tells them apart (at x2,
median 1.05 at CRF 18, 1.07 at 23, 1.13 at 28, 1.22 at 33, 1.05 for H.265 CRF 28); 1.10
scores best of the thresholds tried (1.04 to 1.24). The stream's bits per pixel did worse:
it depends on the codec and on the frame size as much as on the quality.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from sronnx.imaging import blockiness, noise_sigma

__all__ = ["BLOCKINESS", "JPEG_MAX_QUALITY", "KINDS", "NOISE_SIGMA", "VIDEO_BLOCKINESS", "Choice",
           "ModelChoice", "classify", "classify_video"]

KINDS = ("clean", "photo")  # every ModelChoice has these
OPTIONAL_KINDS = ("jpeg",)  # used where shipped; else `jpeg` inputs get the photo model
JPEG_MAX_QUALITY = 88
NOISE_SIGMA = 5.0
BLOCKINESS = 1.3
VIDEO_BLOCKINESS = 1.10  # a lossy video's first frame: see the module


@dataclass(frozen=True)
class Choice:
    """The kind of one input and why, e.g. Choice("photo", "JPEG quality 48")."""

    kind: str
    reason: str


def classify(pixels: np.ndarray | None, fmt: str | None = None,
             jpeg_quality: int | None = None, lossless: bool = False) -> Choice:
    """The rule of this module for one still image: `pixels` as decoded (HxW or HxWxC,
    uint8, uint16 or float in 0..1; None: unknown, judged clean), `fmt` its file format
    (Pillow's name, e.g. "JPEG", "PNG"), `jpeg_quality` the estimate from its tables and
    `lossless` whether a WebP is lossless."""
    if fmt == "JPEG" and jpeg_quality is not None and jpeg_quality <= JPEG_MAX_QUALITY:
        return Choice("jpeg", f"JPEG quality {jpeg_quality}")
    if fmt == "WEBP" and not lossless:
        return Choice("jpeg", "lossy WebP")
    if pixels is None:
        return Choice("clean", "too small to judge its noise")
    try:
        blocks = blockiness(pixels)
        if blocks is not None and blocks >= BLOCKINESS:
            return Choice("jpeg", f"JPEG blocking {blocks:.2f}")
        sigma = noise_sigma(pixels)  # only when the blocking did not decide
    except ValueError:  # a pixel type the estimates do not take
        sigma = None
    if sigma is None:
        return Choice("clean", "no noise measurable (too small, or no patch as flat as noise)")
    if sigma >= NOISE_SIGMA:
        return Choice("photo", f"noise sigma {sigma:.1f}")
    return Choice("clean", f"noise sigma {sigma:.1f}")


def classify_video(first: np.ndarray | None, codec: str, lossless: bool) -> Choice:
    """The rule of this module for a whole video: `first` its first frame as decoded (as for
    `classify`; None: unknown), `codec` the decoder's name (e.g. "h264", for the reason) and
    `lossless` whether that codec is lossless."""
    if lossless:
        still = classify(first)
        return Choice(still.kind, f"lossless video ({codec}), {still.reason}")
    try:
        blocks = blockiness(first) if first is not None else None
    except ValueError:  # a pixel type the estimate does not take
        blocks = None
    if blocks is not None and blocks >= VIDEO_BLOCKINESS:
        return Choice("photo", f"lossy video ({codec}), blocking {blocks:.2f}")
    still = classify(first)
    told = f"blocking {blocks:.2f}, " if blocks is not None else ""
    return Choice(still.kind, f"lossy video ({codec}), {told}{still.reason}")


class ModelChoice:
    """One upscaler per input kind, chosen per file by `classify`.

    `upscalers`: {"clean": Upscaler, "photo": Upscaler} and optionally "jpeg", same scale;
    `names`: the model name of each (for reports). `force`: a kind every file gets, or None
    for the rule. Raises ValueError for a missing kind or mixed scales.
    """

    def __init__(self, upscalers: Mapping[str, object], names: Mapping[str, str],
                 force: str | None = None) -> None:
        missing = [k for k in KINDS if k not in upscalers]
        if missing:
            raise ValueError(f"no upscaler for input kind(s) {', '.join(missing)}")
        scales = {up.scale for up in upscalers.values()}  # type: ignore[attr-defined]
        if len(scales) != 1:
            raise ValueError(f"upscalers of different scales: {sorted(scales)}")
        if force is not None and force not in upscalers:
            raise ValueError(f"input kind must be one of {', '.join(upscalers)}, "
                             f"got {force!r}")
        self.upscalers = dict(upscalers)
        self.names = dict(names)
        self.force = force
        self.fixed: str | None = None  # `only`: the reason every file gets

    @classmethod
    def only(cls, upscaler: object, name: str, reason: str) -> ModelChoice:
        """One model for every file, named with `reason` in each result (e.g. "--model")."""
        choice = cls({k: upscaler for k in KINDS}, {k: name for k in KINDS})
        choice.fixed = reason
        return choice

    @property
    def scale(self) -> int:
        return self.upscalers["clean"].scale  # type: ignore[attr-defined]

    @property
    def provider(self) -> str:
        return self.upscalers["clean"].provider  # type: ignore[attr-defined]

    def decide(self, rule: Callable[[], Choice]) -> Choice:
        """The kind for one input whose own kind `rule` tells: one model for every input
        (`only`: `clean`, with its reason) or a forced kind (`force`) win without calling
        `rule`; a `jpeg` kind where this scale ships no JPEG model becomes `photo`, with the
        rule's reason kept. Every per-input choice (`choose`, a video's) goes through here."""
        if self.fixed is not None:
            return Choice("clean", self.fixed)
        if self.force is not None:
            return Choice(self.force, "forced by --input-kind")
        choice = rule()
        if choice.kind not in self.upscalers:  # no JPEG model at this scale
            return Choice("photo", choice.reason)
        return choice

    def choose(self, pixels: np.ndarray | None, fmt: str | None = None,
               jpeg_quality: int | None = None, animated: bool = False,
               lossless: bool = False) -> Choice:
        """The kind for one input (one model, forced, animation, or `classify`)."""
        return self.decide(lambda: Choice("clean", "animation") if animated
                           else classify(pixels, fmt, jpeg_quality, lossless))
