"""Loading a community checkpoint safely: spandrel's restricted unpickler, safetensors,
no TorchScript; the architecture recognised by spandrel."""

from __future__ import annotations

import hashlib
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import spandrel
import torch
from spandrel import ImageModelDescriptor, UnsupportedModelError

from sronnx.community.common import FORMATS, LOADER, CommunityError, CommunityModel
from sronnx.core import first_line


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def innermost_reason(exc: BaseException) -> str:
    """The first line of the innermost cause of `exc` (exporters wrap the real reason),
    without terminal colour codes, at most 200 characters."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text, name = first_line(exc), type(exc).__name__
    return (text if text == name else f"{name}: {text}")[:200]


def load_state_dict(path: str | Path) -> dict[str, Any]:
    """The state dict in `path` (.pth, .pt, .ckpt: pickles read by spandrel's restricted
    unpickler; .safetensors), unwrapped from `params_ema` / `params` / `state_dict` / ...
    and stripped of `module.` prefixes (`spandrel.canonicalize_state_dict`).

    Raises CommunityError (naming the file) for another suffix, a pickle that needs any
    other global (it is refused before that global is looked up, so nothing in it runs), a
    TorchScript archive, or an unreadable file.
    """
    path = Path(path)
    name = path.name
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CommunityError(f"{name}: unsupported checkpoint type {path.suffix or '(none)'!r}; "
                             f"sronnx reads {', '.join(FORMATS)}")
    if fmt == "safetensors":
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own and OSError
            raise CommunityError(f"{name}: not a readable safetensors file "
                                 f"({innermost_reason(exc)})") from exc
    else:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist()):
                    raise CommunityError(f"{name}: a TorchScript archive (a program, not "
                                         "weights); sronnx loads only state dicts")
        loader = spandrel.ModelLoader(device="cpu")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = loader._load_pth(path)  # torch.load with spandrel's RestrictedUnpickle
        except pickle.UnpicklingError as exc:
            if "forbidden" in str(exc):
                raise CommunityError(
                    f"{name}: refused: the pickle needs code beyond a state dict "
                    f"({innermost_reason(exc)}); spandrel's safe unpickler loads weights only"
                ) from exc
            raise CommunityError(f"{name}: not a readable PyTorch checkpoint "
                                 f"({innermost_reason(exc)})") from exc
        except Exception as exc:  # noqa: BLE001 - torch.load raises many types
            raise CommunityError(f"{name}: not a readable PyTorch checkpoint "
                                 f"({innermost_reason(exc)})") from exc
    if not isinstance(state, dict):
        raise CommunityError(f"{name}: holds a {type(state).__name__}, not a state dict")
    return spandrel.canonicalize_state_dict(state)


def model_from_state_dict(state: dict[str, Any], name: str) -> ImageModelDescriptor:
    """spandrel's model for `state` (in eval mode, float32, CPU).

    Raises CommunityError (naming `name`) when spandrel recognises no architecture, when the
    model is not image-to-image (e.g. inpainting with a mask), or when its channel counts are
    not 1 (luma), 3 (RGB) or 4 (RGBA).
    """
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CommunityError(f"{name}: holds no tensors; not a model's weights")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            desc = spandrel.ModelLoader(device="cpu").load_from_state_dict(tensors)
    except UnsupportedModelError as exc:
        raise CommunityError(f"{name}: not a model {LOADER} recognises (unknown architecture, "
                             "or not a model's weights)") from exc
    except Exception as exc:  # noqa: BLE001 - an architecture's loader fails on odd weights
        raise CommunityError(f"{name}: {LOADER} could not build the model "
                             f"({innermost_reason(exc)})") from exc
    if not isinstance(desc, ImageModelDescriptor):
        raise CommunityError(f"{name}: a {desc.architecture.name} model ({desc.purpose}) is not "
                             "an image-to-image model; sronnx exports models that map one "
                             "image to one image")
    if desc.input_channels not in (1, 3, 4) or desc.output_channels not in (1, 3, 4):
        raise CommunityError(f"{name}: a {desc.architecture.name} model of "
                             f"{desc.input_channels} input and {desc.output_channels} output "
                             "channels; sronnx runs 1 (luma), 3 (RGB) and 4 (RGBA)")
    return desc.float().eval()


def load_community(path: str | Path) -> CommunityModel:
    """Load `path` through spandrel, safely (see `load_state_dict`); raises CommunityError."""
    path = Path(path)
    if not path.is_file():
        raise CommunityError(f"{path.name}: no such checkpoint file")
    state = load_state_dict(path)
    bad = [k for k, t in state.items()
           if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CommunityError(f"{path.name}: damaged checkpoint: NaN or infinite weights in "
                             f"{len(bad)} tensor(s), e.g. {bad[0]}")
    desc = model_from_state_dict(state, path.name)
    return CommunityModel(name=path.name, sha256=file_sha256(path),
                          format=FORMATS[path.suffix.lower()], spandrel=desc)
