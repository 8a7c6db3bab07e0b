"""Community PyTorch checkpoints (ESRGAN, Real-ESRGAN Compact, SwinIR, SPAN, ...) through
spandrel: load safely, describe, export to one self-contained ONNX file, check parity.

Loading never runs code from the file: pickles (.pth, .pt, .ckpt) go through spandrel's
restricted unpickler, which allows only the globals a state dict needs (OrderedDict, tensor
rebuilding, storages) and refuses anything else (e.g. `os.system` in a `__reduce__`);
TorchScript archives (programs, not weights) are refused before torch could dispatch them
to `torch.jit.load`; .safetensors holds tensors only. spandrel then recognises the
architecture and its settings from the weights alone (`spandrel.ModelLoader`).

Exports take input "input" float32 N x C x H x W in [0, 1] (C = the model's 1, 3 or 4
channels) and give "output" float32 N x C' x sH x sW, unclamped (spandrel clamps to [0, 1]
after the model; so do sronnx's runtime and its image writers). The shape is found per model
(`export_community`): dynamic N, H, W with torch's dynamo exporter, else with the TorchScript
exporter, else a fixed H x W that the runtime tiles; each candidate must match spandrel's
PyTorch model at three sizes other than the dummy's before it is taken.

This package imports torch, onnx and spandrel; nothing under `sronnx.runtime` imports it.
"""

from sronnx.community.common import (
    EXPORT_TOLERANCE,
    FIXED_SIDE,
    FORMATS,
    LICENSE_NOTE,
    LOADER,
    RF_DELTA,
    RF_PROBE,
    RF_THRESHOLD,
    TILE_HINT,
    TILE_HINT_DISCOURAGED,
    CommunityError,
    CommunityExport,
    CommunityModel,
    InputSafe,
    Strategy,
)
from sronnx.community.describe import (
    community_card,
    make_descriptor,
    measure_receptive_field,
    probe_size,
    settings,
    spec_words,
)
from sronnx.community.export import (
    candidates,
    deployable_copy,
    export_community,
    export_with,
    fixed_size_for,
    parity,
    parity_shapes,
)
from sronnx.community.loading import (
    file_sha256,
    load_community,
    load_state_dict,
    model_from_state_dict,
)
from sronnx.community.verify import (
    community_reference,
    is_community_card,
    model_from_onnx_weights,
    reference_input,
    verify_cases,
)

__all__ = [
    "CommunityError",
    "CommunityExport",
    "CommunityModel",
    "EXPORT_TOLERANCE",
    "FIXED_SIDE",
    "FORMATS",
    "InputSafe",
    "LICENSE_NOTE",
    "LOADER",
    "RF_DELTA",
    "RF_PROBE",
    "RF_THRESHOLD",
    "Strategy",
    "TILE_HINT",
    "TILE_HINT_DISCOURAGED",
    "candidates",
    "community_card",
    "community_reference",
    "deployable_copy",
    "export_community",
    "export_with",
    "file_sha256",
    "fixed_size_for",
    "is_community_card",
    "load_community",
    "load_state_dict",
    "make_descriptor",
    "measure_receptive_field",
    "model_from_onnx_weights",
    "model_from_state_dict",
    "parity",
    "parity_shapes",
    "probe_size",
    "reference_input",
    "settings",
    "spec_words",
    "verify_cases",
]
