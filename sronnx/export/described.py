"""A described copy of a model made elsewhere (what `sronnx describe` writes): the same graph
and weights, with an sronnx descriptor in its metadata, so that the runtime needs no probe
and no options for it. Imports onnx, not torch.
"""

from __future__ import annotations

from pathlib import Path

from sronnx.core import METADATA_KEY, ModelDescriptor, ModelFileError
from sronnx.runtime import load_model

__all__ = ["write_described"]


def write_described(source: str | Path, output: str | Path,
                    descriptor: ModelDescriptor) -> ModelDescriptor:
    """Copy the ONNX model `source` to `output` with `descriptor` in its metadata (replacing
    any descriptor there; the other metadata, the graph and the weights unchanged), through a
    temporary file beside `output` that must load (`sronnx.runtime.load_model`) before it
    replaces `output`. Returns the descriptor the copy loads with.

    Raises ImportError without the onnx package, `sronnx.core.ModelFileError` where the copy
    does not load (the temporary file is removed, `output` untouched), OSError where it
    cannot be written."""
    import onnx

    source, output = Path(source), Path(output)
    proto = onnx.load(str(source))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    for key, value in [*kept, (METADATA_KEY, descriptor.to_json())]:
        proto.metadata_props.add(key=key, value=value)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    onnx.save_model(proto, str(tmp), save_as_external_data=False)
    try:
        again = load_model(tmp).info.descriptor
    except ModelFileError:
        tmp.unlink()
        raise
    tmp.replace(output)
    return again
