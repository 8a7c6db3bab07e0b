"""The JavaScript kit (sronnx/web/sronnx.mjs) on real runtimes: the Node example with
onnxruntime-node, and the demo page in Chromium (onnxruntime-web, WebAssembly, threads)
served by `sronnx web`; both must give what the Python upscaler gives, within one level.

They skip when node, the npm packages, chromium or playwright are missing, except under
CI=true, where they fail instead (.ci/run installs them all).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import CI, MODELS, ROOT, data_dir
from PIL import Image

from sronnx.engine.upscaler import Upscaler

WEB = ROOT / "sronnx" / "web"
NODE_EXAMPLE = ROOT / "examples" / "node"
SCREENSHOT = ROOT / "bench" / "results" / "web" / "demo.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]


def need(ok: object, reason: str) -> None:
    """Skip for `reason` when not `ok`; under CI=true fail instead (CI installs it all)."""
    if not ok:
        if CI:
            pytest.fail(f"{reason} (CI=true: this must be installed)")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A crop of Set5's bird (RGB); the same crop with a varying alpha (RGBA: opaque, soft
    ramps and fully transparent parts); and as a palette PNG (which the page decodes through
    a canvas, not its own PNG reader)."""
    bird = Image.open(data_dir("test", "Set5") / "bird.png").convert("RGB")
    crop = bird.crop((40, 60, 140, 140))  # 100 x 80
    folder = tmp_path_factory.mktemp("web_kit")
    rgb = folder / "bird_crop.png"
    crop.save(rgb)
    arr = np.asarray(crop.convert("RGBA")).copy()
    rows, cols = np.mgrid[: arr.shape[0], : arr.shape[1]]
    arr[..., 3] = np.clip((cols * 3.1 + rows * 1.3) % 300 - 20, 0, 255).astype(np.uint8)
    rgba = folder / "bird_crop_rgba.png"
    Image.fromarray(arr).save(rgba)
    palette = folder / "bird_crop_palette.png"
    crop.quantize(256).save(palette)
    return {"rgb": rgb, "rgba": rgba, "palette": palette}


def python_result(model: str, png: Path) -> np.ndarray:
    img = Image.open(png)
    if img.mode == "P":
        img = img.convert("RGB")
    return Upscaler(MODELS / f"{model}.onnx").upscale(np.asarray(img))


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape, (a.shape, b.shape)
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


# ---- Node ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    need(exe, "node is not installed")
    for pkg in ("onnxruntime-node", "pngjs"):
        need((NODE_EXAMPLE / "node_modules" / pkg).is_dir(),
             f"examples/node/node_modules/{pkg} is missing "
             "(ONNXRUNTIME_NODE_INSTALL=skip npm ci in examples/node)")
    return exe


@pytest.mark.parametrize("model", ["rsp-x2", "rsp-x2-int8"])
@pytest.mark.parametrize("kind", ["rgb", "rgba"])
def test_node_example_matches_python(node: str, images: dict[str, Path], model: str,
                                     kind: str, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    r = subprocess.run([node, "upscale.mjs", str(MODELS / f"{model}.onnx"), str(images[kind]),
                        str(out), "--threads", "2"],
                       cwd=NODE_EXAMPLE, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = Image.open(out)
    assert got.mode == ("RGBA" if kind == "rgba" else "RGB")
    diff = max_diff(np.asarray(got), python_result(model, images[kind]))
    print(f"node {model} {kind}: max difference {diff} levels")
    assert diff <= 1


def test_node_example_refuses_clearly(node: str, tmp_path: Path) -> None:
    bad = tmp_path / "not.png"
    bad.write_bytes(b"not a png")
    r = subprocess.run([node, "upscale.mjs", str(MODELS / "rsp-x2.onnx"), str(bad),
                        str(tmp_path / "o.png")],
                       cwd=NODE_EXAMPLE, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot read" in r.stderr, r.stderr


# ---- the page in Chromium ----------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    """`sronnx web` on a free localhost port; its base URL."""
    need((WEB / "node_modules" / "onnxruntime-web" / "dist").is_dir(),
         "sronnx/web/node_modules/onnxruntime-web is missing (npm ci in sronnx/web/)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, "-m", "sronnx", "web", "--port", "0", "--quiet"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert "http://" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        yield line[line.index("http://"):].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_server_headers_and_refusals(server: str) -> None:
    import urllib.error
    import urllib.request

    for path, mime in [("", "text/html"), ("worker.mjs", "text/javascript"),
                       ("sronnx.mjs", "text/javascript"),
                       ("node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm",
                        "application/wasm"),
                       ("models/rsp-x2.onnx", "application/octet-stream"),
                       ("models/index.json", "application/json")]:
        with urllib.request.urlopen(server + path) as resp:
            assert resp.headers["Content-Type"] == mime, path
            assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert resp.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    for path in ["../pyproject.toml", "models/../../pyproject.toml", "%2e%2e/pyproject.toml",
                 "models/%2e%2e/cli/web.py", "../cli/web.py", "__init__.py", ".gitignore",
                 "nothing-here"]:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server + path)
        assert err.value.code in (403, 404), path
        assert err.value.headers["Cross-Origin-Embedder-Policy"] == "require-corp"


def test_web_page_matches_python(server: str, images: dict[str, Path], tmp_path: Path) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright is not installed (pip install -e '.[dev]')")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    need(Path(chromium).is_file(), "Debian's chromium is not installed "
                                   "(apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 860})
            page.goto(server)
            assert page.evaluate("crossOriginIsolated") is True
            cases = [("rgb", "rsp-x2-int8"), ("rgb", "rsp-x2"), ("rgba", "rsp-x2"),
                     ("palette", "rsp-x2-int8"), ("rgb", "rsp-x2")]  # the last: the screenshot
            for kind, model in cases:
                page.set_input_files("#file", str(images[kind]))
                page.wait_for_function("document.getElementById('status').textContent"
                                       ".startsWith('Ready')")
                page.select_option("#model", f"models/{model}.onnx")
                started = time.perf_counter()
                page.click("#run")
                page.wait_for_function("['done', 'error'].includes(document.body.dataset.state)",
                                       timeout=60_000)
                status = page.text_content("#status")
                assert page.evaluate("document.body.dataset.state") == "done", status
                assert "thread" in status and "1 thread)" not in status, status
                with page.expect_download() as info:
                    page.click("#download")
                saved = tmp_path / f"{kind}-{model}.png"
                info.value.save_as(saved)
                got = Image.open(saved)
                assert got.mode == ("RGBA" if kind == "rgba" else "RGB"), got.mode
                diff = max_diff(np.asarray(got), python_result(model, images[kind]))
                print(f"web {model} {kind}: max difference {diff} levels, "
                      f"{time.perf_counter() - started:.1f} s ({status})")
                assert diff <= 1
            # the committed screenshot is written only when asked (it shows timings, so every
            # run would change a tracked file): SRONNX_SCREENSHOT=1 pytest tests/web/test_web_kit.py
            shot = SCREENSHOT if os.environ.get("SRONNX_SCREENSHOT") else tmp_path / "demo.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
