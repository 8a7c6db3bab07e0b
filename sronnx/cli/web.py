"""`sronnx web`: serve the web demo and the shipped models, cross-origin isolated.

onnxruntime-web runs its WebAssembly on threads only in a cross-origin isolated page, and the
browser grants that only when EVERY response (the page, its scripts, the .wasm, the models)
carries the headers below: with them on the page alone, session creation hangs. Any static
host serves the kit as well, given the same headers and MIME types (README: "In a web page,
in Node"). Standard library only (no torch, no numpy).
"""

from __future__ import annotations

import http.server
import posixpath
import sys
from functools import partial
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click

from sronnx.cli import cannot_start
from sronnx.web import KIT, ORT_WEB_VERSION, find_ort_web, install_command, runtime_cache

# What every response carries (errors included).
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}

MIME_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".json": "application/json",
    ".html": "text/html",
    ".css": "text/css",
    ".png": "image/png",
    ".map": "application/json",
}

MODELS_PREFIX = "/models/"
ORT_WEB_PREFIX = "/node_modules/onnxruntime-web/"


def default_web_root() -> Path:
    """The web kit shipped inside the package (`sronnx/web/`, in a wheel or a checkout)."""
    return KIT


def models_dir() -> Path:
    return Path(str(resources.files("sronnx.models")))


def resolve(url_path: str, web_root: Path, models: Path, ort_web: Path | None = None
            ) -> Path | None:
    """The file a URL path names: /models/NAME under `models`, /node_modules/onnxruntime-web/
    under `ort_web` (where that package was found, see `sronnx.web.find_ort_web`), anything
    else under `web_root` (a folder gives its index.html); None when the path leaves its root
    or names a hidden file."""
    path = posixpath.normpath(unquote(urlsplit(url_path).path))
    if path.startswith(MODELS_PREFIX):
        root, rel = models, path[len(MODELS_PREFIX):]
    elif ort_web is not None and path.startswith(ORT_WEB_PREFIX):
        root, rel = ort_web, path[len(ORT_WEB_PREFIX):]
    else:
        root, rel = web_root, path.lstrip("/")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        return None
    target = root.joinpath(*parts).resolve()
    if not target.is_relative_to(root.resolve()):
        return None
    if target.is_dir():
        target = target / "index.html"
    if target.suffix not in MIME_TYPES:  # the kit's kinds of file only (not its __init__.py)
        return None
    return target


class Handler(http.server.SimpleHTTPRequestHandler):
    """GET and HEAD of files under the web root and the models folder, with the isolation
    headers and the kit's MIME types on every response."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def __init__(self, *args, web_root: Path, models: Path, ort_web: Path | None, quiet: bool,
                 **kwargs) -> None:
        self.web_root = web_root
        self.models = models
        self.ort_web = ort_web
        self.quiet = quiet
        super().__init__(*args, directory=str(web_root), **kwargs)

    def end_headers(self) -> None:
        for key, value in ISOLATION_HEADERS.items():
            self.send_header(key, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def send_head(self):  # noqa: ANN201 - http.server's own signature
        target = resolve(self.path, self.web_root, self.models, self.ort_web)
        if target is None:
            self.send_error(403, "outside the served folders")
            return None
        if not target.is_file():
            self.send_error(404, "not found")
            return None
        try:
            f = open(target, "rb")  # noqa: SIM115 - copyfile reads it, then http.server closes it
        except OSError:
            self.send_error(404, "not found")
            return None
        size = target.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(target)))
        self.send_header("Content-Length", str(size))
        self.end_headers()
        return f

    def list_directory(self, path):  # noqa: ANN001, ANN201 - no listings
        self.send_error(404, "not found")
        return None

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's name
        if not self.quiet:
            super().log_message(format, *args)


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port, printed).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The web kit's folder [default: the kit inside the sronnx package].")
@click.option("--quiet", is_flag=True, help="Do not log requests.")
def web(port: int, host: str, root: Path | None, quiet: bool) -> None:
    """Serve the web demo (upscaling in the browser with ONNX Runtime Web) and the shipped
    models at /models/NAME.onnx, with the cross-origin isolation headers that threads in
    WebAssembly need on every response. onnxruntime-web is taken from the kit's node_modules
    (npm ci in a checkout's sronnx/web) or the runtime cache; exit 2, with the npm command
    that installs it, when neither has it."""
    web_root = (root if root is not None else default_web_root()).resolve()
    if not (web_root / "index.html").is_file():
        raise cannot_start(f"{web_root} holds no index.html: pass --root, the sronnx web kit's "
                           f"folder (default {default_web_root()})")
    ort_web = find_ort_web(web_root)
    if ort_web is None:
        raise cannot_start(f"onnxruntime-web {ORT_WEB_VERSION} is missing (neither "
                           f"{web_root / 'node_modules'} nor {runtime_cache() / 'node_modules'} "
                           f"has it): run {install_command()}")
    handler = partial(Handler, web_root=web_root, models=models_dir(), ort_web=ort_web,
                      quiet=quiet)
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise cannot_start(f"cannot listen on {host}:{port}: {exc}") from exc
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {web_root} and the shipped models at "
               f"http://{shown}:{server.server_address[1]}/ (Ctrl+C stops)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
