"""What `sronnx verify` needs for a community model: test inputs the size rule takes, and the
PyTorch model to compare with (`community_reference`, which `sronnx.export.verify_model`
takes as its `community` builder): spandrel's model of the checkpoint, or rebuilt from the
file's own weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from sronnx.community.common import LOADER, CommunityError, InputSafe
from sronnx.community.export import parity_shapes
from sronnx.community.loading import load_community, model_from_state_dict
from sronnx.core import ModelCard, ModelDescriptor, ModelInfo
from sronnx.export import TorchReference, VerifyError, weights_sha256


def is_community_card(card: ModelCard) -> bool:
    """True for the card of a model exported through spandrel (its source's loader)."""
    return card.source is not None and (card.source.loader or "").startswith("spandrel")


def verify_cases(descriptor: ModelDescriptor, seed: int = 0, large: int = 128
                 ) -> list[tuple[str, np.ndarray]]:
    """Random float32 inputs for `sronnx verify` of a spandrel export: sizes its rule takes,
    unlike the export's dummy (odd multiples, a batch of 2 unless the file fixes its batch,
    the smallest, a larger one)."""
    rng = np.random.default_rng(seed)
    c = descriptor.in_channels
    shapes = parity_shapes(descriptor.size, descriptor.fixed_size,
                           large=0 if descriptor.fixed_size else large, batch=descriptor.batch)
    if not descriptor.fixed_size:
        low = descriptor.size.minimum
        ph, pw = descriptor.size.get_padding(low, low)
        shapes.insert(2, (descriptor.batch or 1, low + ph, low + pw))
    return [(f"random {n}x{c}x{h}x{w}", rng.random((n, c, h, w), dtype=np.float32))
            for n, h, w in shapes]


def reference_input(descriptor: ModelDescriptor, seed: int = 1) -> np.ndarray:
    """A small input for onnx.reference: 1 x C x (the smallest size the rule takes, at
    least 6 x 7), or the fixed size."""
    rng = np.random.default_rng(seed)
    if descriptor.fixed_size:
        h, w = descriptor.fixed_size
    else:
        h, w = max(6, descriptor.size.minimum), max(7, descriptor.size.minimum)
        ph, pw = descriptor.size.get_padding(h, w)
        h, w = h + ph, w + pw
    return rng.random((1, descriptor.in_channels, h, w), dtype=np.float32)


def model_from_onnx_weights(path: str | Path, card: ModelCard) -> nn.Module:
    """spandrel's model rebuilt from the ONNX file's initializers (the dynamo exporter names
    them after the state dict's keys), trusted only when its weights hash to the card's
    `weights_sha256`; raises CommunityError otherwise."""
    name = Path(path).name
    proto = onnx.load(str(path))
    # constants the exporter made (e.g. "val_12", "scalar_tensor_default") are not keys of
    # any state dict: module keys contain a dot
    state = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy())
             for i in proto.graph.initializer if "." in i.name and "::" not in i.name}
    try:
        desc = model_from_state_dict(state, name)
    except CommunityError as exc:
        raise CommunityError(f"{name}: cannot rebuild the PyTorch model from the file's weights "
                             f"({exc}); pass --checkpoint") from exc
    if weights_sha256(desc.model) != card.weights_sha256:
        raise CommunityError(f"{name}: the weights rebuilt from the file do not hash to the "
                             "card's weights_sha256; pass --checkpoint")
    return desc.model


def community_reference(path: Path, info: ModelInfo, checkpoint: str | None = None
                        ) -> TorchReference:
    """The PyTorch model a spandrel export is compared with (a
    `sronnx.export.CommunityReference`): spandrel's model of `checkpoint` (its SHA-256 or
    weights hash must match the card; VerifyError code 1 when neither does), else of the
    file's own weights when they hash to the card's; VerifyError (code 2) where none can be
    had. With the random cases and the small onnx.reference input its size rule takes."""
    card = info.card
    try:
        if checkpoint:
            cm = load_community(checkpoint)
            if cm.sha256 == card.source.sha256:
                how = "SHA-256 matches the card"
            elif weights_sha256(cm.model) == card.weights_sha256:
                how = "weights hash matches the card (another file of the same weights)"
            else:
                raise VerifyError(f"{Path(checkpoint).name}: neither its SHA-256 nor its "
                                  f"weights match the card of {path} (source "
                                  f"{card.source.file})", 1)
            model = cm.reference
            source = f"{LOADER}'s {cm.arch} from {cm.name} ({how})"
        else:
            model = InputSafe(model_from_onnx_weights(path, card))
            source = (f"{LOADER} rebuilt from the file's weights (weights hash matches the "
                      "card)")
    except CommunityError as exc:
        raise VerifyError(str(exc)) from exc
    d = info.descriptor
    return TorchReference(model, source, verify_cases(d), reference_input(d))
