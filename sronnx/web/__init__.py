"""The web kit: the page, its worker and `sronnx.mjs` (the files beside this module, shipped in
the wheel), and where the onnxruntime-web runtime it imports is found.

The kit loads onnxruntime-web from `node_modules/onnxruntime-web/dist/` relative to itself. That
package (about 140 MB, of which the page needs 15 for WebAssembly and 28 more for WebGPU:
`ort.webgpu.min.mjs` and `ort-wasm-simd-threaded.asyncify.wasm`) is not in the wheel; it is
looked for in:

1. `<kit>/node_modules/onnxruntime-web` (`npm ci` in a source checkout's `sronnx/web/`);
2. `<cache>/node_modules/onnxruntime-web`, where `<cache>` is `$SRONNX_WEB_RUNTIME`, else
   `$XDG_CACHE_HOME/sronnx/web` (default `~/.cache/sronnx/web`): what `install_command()` fills
   for a wheel install (`npm install --prefix <cache> onnxruntime-web@<version>`).

The version is the one `package.json` pins (`ORT_WEB_VERSION`). Standard library only.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

__all__ = ["KIT", "ORT_WEB_VERSION", "find_ort_web", "install_command", "runtime_cache"]

#: The kit's folder (index.html, worker.mjs, sronnx.mjs, package.json, ...).
KIT = Path(__file__).resolve().parent


def _pinned_version() -> str:
    deps = json.loads((KIT / "package.json").read_text(encoding="utf-8"))["dependencies"]
    return str(deps["onnxruntime-web"])


#: The onnxruntime-web release the kit is written and tested for (package.json's pin).
ORT_WEB_VERSION = _pinned_version()


def runtime_cache() -> Path:
    """Where a wheel install keeps onnxruntime-web: `$SRONNX_WEB_RUNTIME`, else
    `$XDG_CACHE_HOME/sronnx/web` (XDG default `~/.cache`)."""
    given = os.environ.get("SRONNX_WEB_RUNTIME")
    if given:
        return Path(given).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "sronnx" / "web"


def find_ort_web(kit: Path = KIT) -> Path | None:
    """The onnxruntime-web package folder (the one holding `dist/`) for the kit in `kit`: its
    own `node_modules`, else the runtime cache; None when neither has it."""
    for base in (kit, runtime_cache()):
        folder = base / "node_modules" / "onnxruntime-web"
        if (folder / "dist").is_dir():
            return folder
    return None


def install_command() -> str:
    """The shell command that puts the pinned onnxruntime-web into the runtime cache."""
    return (f"npm install --prefix {shlex.quote(str(runtime_cache()))} "
            f"onnxruntime-web@{ORT_WEB_VERSION}")
