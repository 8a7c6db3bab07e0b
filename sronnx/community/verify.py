"""What `sronnx verify` needs for a community model: test inputs the size rule takes, and the
PyTorch model rebuilt from the file's own weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from sronnx.community.common import CommunityError
from sronnx.community.export import parity_shapes
from sronnx.community.loading import model_from_state_dict
from sronnx.core import ModelCard, ModelDescriptor
from sronnx.export import weights_sha256


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
