"""The JavaScript kit (sronnx/web/sronnx.mjs) on real runtimes: the Node example with
onnxruntime-node, and the demo page in Chromium (onnxruntime-web: WebAssembly with threads,
and WebGPU on Chromium's software adapter, SwiftShader) served by `sronnx web`; all must give
what the Python upscaler gives, within one level. The page's behaviour as a user meets it
(an unreadable file, a chosen .onnx file, progress on a one-tile image, the large-image
warning, the download's name) is checked on the same page.

They skip when node, the npm packages, chromium or playwright are missing, except under
CI=true, where they fail instead (.ci/run installs them all). The WebGPU test skips, CI or
not, when Chromium gives no WebGPU adapter (a machine without Vulkan's SwiftShader).
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
from sronnx.imaging import bicubic_upscale_plane

WEB = ROOT / "sronnx" / "web"
NODE_EXAMPLE = ROOT / "examples" / "node"
SCREENSHOT = ROOT / "bench" / "results" / "web" / "demo.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]
# WebGPU without a GPU: Chromium's SwiftShader adapter (Vulkan in software), which Chromium
# offers only with --enable-unsafe-webgpu (no --disable-gpu: that removes the GPU process)
WEBGPU_ARGS = [a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + ["--enable-unsafe-webgpu"]
# A 7 x 7 alpha pattern (0, 1, 2 and 255) whose x3 bicubic alpha is exactly float32(0.5 / 255)
# at some pixels: there unpremultiply's threshold decides, and a threshold compared in float64
# instead of float32 divided the colour by 0.002 (up to 181 levels off Python).
FAINT_ALPHA = [[255, 1, 2, 1, 0, 1, 255], [255, 2, 1, 1, 0, 0, 255], [2, 0, 255, 255, 0, 2, 0],
               [0, 1, 0, 255, 1, 1, 2], [1, 0, 1, 0, 2, 2, 1], [1, 1, 255, 1, 0, 0, 255],
               [2, 0, 2, 0, 2, 0, 0]]


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
    faint = np.tile(np.array(FAINT_ALPHA, dtype=np.uint8), (12, 15))[: arr.shape[0], : arr.shape[1]]
    arr[..., 3] = faint
    rgba_faint = folder / "bird_crop_faint.png"
    Image.fromarray(arr[:40, :50]).save(rgba_faint)  # 50 x 40: WebGPU in software is slow
    rgb_small = folder / "bird_crop_small.png"
    crop.crop((0, 0, 50, 40)).save(rgb_small)
    big = folder / "bird_512.png"
    bird.resize((512, 512)).save(big)
    tall = np.asarray(bird.resize((160, 1100)).convert("RGBA")).copy()  # 3 rows of tiles
    tall[..., 3] = np.clip(np.mgrid[:1100, :160][0] % 300 - 20, 0, 255).astype(np.uint8)
    rgba_tall = folder / "bird_tall_rgba.png"
    Image.fromarray(tall).save(rgba_tall)
    return {"rgb": rgb, "rgba": rgba, "palette": palette, "rgba_faint": rgba_faint,
            "rgb_small": rgb_small, "big": big, "rgba_tall": rgba_tall}


def test_faint_alpha_reaches_the_threshold(images: dict[str, Path]) -> None:
    """The x3 RGBA cases below test the threshold only if the image reaches it."""
    alpha = np.asarray(Image.open(images["rgba_faint"]))[..., 3]
    up = bicubic_upscale_plane(alpha.astype(np.float32) * np.float32(1 / 255), 3)
    assert int((up == np.float32(0.5 / 255)).sum()) > 0


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


@pytest.mark.parametrize(("model", "kind"), [
    ("rsp-x2", "rgb"), ("rsp-x2-int8", "rgb"), ("rsp-x2", "rgba"), ("rsp-x2-int8", "rgba"),
    ("rsp-x3", "rgba_faint"), ("rsp-x3-int8", "rgba_faint")])
def test_node_example_matches_python(node: str, images: dict[str, Path], model: str,
                                     kind: str, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    r = subprocess.run([node, "upscale.mjs", str(MODELS / f"{model}.onnx"), str(images[kind]),
                        str(out), "--threads", "2"],
                       cwd=NODE_EXAMPLE, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = Image.open(out)
    assert got.mode == ("RGBA" if kind.startswith("rgba") else "RGB")
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
                       ("node_modules/onnxruntime-web/dist/ort.webgpu.min.mjs",
                        "text/javascript"),
                       ("node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm",
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


def chromium_exe() -> str:
    """Debian's chromium (skips, or fails under CI, when it or playwright is missing)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        need(False, "playwright is not installed (pip install -e '.[dev]')")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    need(Path(chromium).is_file(), "Debian's chromium is not installed "
                                   "(apt-get install chromium)")
    return chromium


def upscale_in_page(page, image: Path, model: str, saved: Path) -> tuple[str, str]:  # noqa: ANN001
    """Load `image`, choose the shipped `model`, press Upscale, wait, save the download to
    `saved`; (the status line, the download's suggested name)."""
    page.set_input_files("#file", str(image))
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Ready')")
    page.select_option("#model", f"models/{model}.onnx")
    return press_upscale(page, saved)


def press_upscale(page, saved: Path) -> tuple[str, str]:  # noqa: ANN001
    """Press Upscale on what the page holds, wait, save the download to `saved`; (the status
    line, the download's suggested name)."""
    page.click("#run")
    page.wait_for_function("['done', 'error'].includes(document.body.dataset.state)",
                           timeout=120_000)
    status = page.text_content("#status")
    assert page.evaluate("document.body.dataset.state") == "done", status
    with page.expect_download() as info:
        page.click("#download")
    info.value.save_as(saved)
    return status, info.value.suggested_filename


def check_parity(saved: Path, kind: str, model: str, images: dict[str, Path], label: str) -> int:
    """The page's PNG against the Python upscaler: mode, then at most one level off."""
    got = Image.open(saved)
    assert got.mode == ("RGBA" if kind.startswith("rgba") else "RGB"), got.mode
    diff = max_diff(np.asarray(got), python_result(model, images[kind]))
    print(f"{label} {model} {kind}: max difference {diff} levels")
    assert diff <= 1
    return diff


def test_web_page_matches_python(server: str, images: dict[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = chromium_exe()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 860})
            page.goto(server + "?backend=wasm")
            assert page.evaluate("crossOriginIsolated") is True
            cases = [("rgb", "rsp-x2-int8"), ("rgb", "rsp-x2"), ("rgba", "rsp-x2"),
                     ("palette", "rsp-x2-int8"), ("rgba_faint", "rsp-x3"),
                     ("rgba_tall", "rsp-x2-int8"),  # the PNG written in 3 bands of rows
                     ("rgb", "rsp-x2")]  # the last: the screenshot
            for kind, model in cases:
                started = time.perf_counter()
                saved = tmp_path / f"{kind}-{model}.png"
                status, name = upscale_in_page(page, images[kind], model, saved)
                assert "WebAssembly" in status and "thread" in status, status
                assert "1 thread)" not in status, status
                assert page.evaluate("document.body.dataset.backend") == "wasm"
                scale = int(model.split("-x")[1][0])
                assert name == f"{images[kind].stem}-x{scale}-{model}.png", name
                check_parity(saved, kind, model, images, "web")
                print(f"  {time.perf_counter() - started:.1f} s ({status})")
            # the committed screenshot is written only when asked (it shows timings, so every
            # run would change a tracked file): SRONNX_SCREENSHOT=1 pytest tests/web/test_web_kit.py
            shot = SCREENSHOT if os.environ.get("SRONNX_SCREENSHOT") else tmp_path / "demo.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()


def test_web_page_webgpu_matches_python(server: str, images: dict[str, Path],
                                        tmp_path: Path) -> None:
    """WebGPU through onnxruntime-web's WebGPU build, on the adapter Chromium has here
    (SwiftShader, Vulkan in software: slow, but the same shaders a GPU runs). An int8 model
    on RGB and a float32 one on faint alpha: an int8 model's one-level differences on WebGPU
    are magnified by the division by alpha (README: up to 89 levels at alpha 2/255)."""
    from playwright.sync_api import sync_playwright

    chromium = chromium_exe()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=WEBGPU_ARGS)
        try:
            page = browser.new_page(accept_downloads=True)
            page.goto(server + "?backend=webgpu")
            adapter = page.evaluate("""async () => {
                if (!navigator.gpu) return 'this chromium has no navigator.gpu';
                const a = await navigator.gpu.requestAdapter();
                return a ? null : 'chromium gives no WebGPU adapter here (no SwiftShader)'; }""")
            if adapter is not None:
                pytest.skip(adapter)
            for kind, model in [("rgb_small", "rsp-x2-int8"), ("rgba_faint", "rsp-x3")]:
                saved = tmp_path / f"{kind}-{model}.png"
                status, _ = upscale_in_page(page, images[kind], model, saved)
                assert "on WebGPU" in status, status
                assert page.evaluate("document.body.dataset.backend") == "webgpu"
                assert page.text_content("#backend-used") == "Backend: WebGPU."
                check_parity(saved, kind, model, images, "webgpu")
        finally:
            browser.close()


def test_web_page_as_a_user_meets_it(server: str, images: dict[str, Path],
                                     tmp_path: Path) -> None:
    """An unreadable file clears the page; a chosen .onnx file shows in the model menu and
    names the download; a one-tile image shows the model running, not 0 %; a large image
    (here: the threshold lowered by ?large=) is warned of with time and memory before the
    result; the end says it is encoding the PNG; without a WebGPU adapter the page says it
    ran on WebAssembly and why."""
    from playwright.sync_api import sync_playwright

    chromium = chromium_exe()
    mine = tmp_path / "mine.onnx"
    shutil.copyfile(MODELS / "rsp-x3-int8.onnx", mine)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(accept_downloads=True)
            # backend auto: Chromium here gives no adapter; outputs over 0.2 MP drawn 1/k
            page.goto(server + "?large=200000&preview=200000")
            page.set_input_files("#file", str(images["rgb"]))
            page.wait_for_function("document.getElementById('status').textContent"
                                   ".startsWith('Ready')")
            assert page.is_enabled("#run")
            page.set_input_files("#file", str(bad))
            page.wait_for_function("document.getElementById('status').textContent"
                                   ".startsWith('Cannot read')")
            assert "broken.png" in page.text_content("#status")
            assert not page.is_enabled("#run")
            assert page.evaluate("document.getElementById('input').width") == 0
            assert page.text_content("#input-caption") == "Input"

            page.set_input_files("#model-file", str(mine))
            chosen = page.evaluate("document.getElementById('model').selectedOptions[0]"
                                   ".textContent")
            assert "mine.onnx" in chosen, chosen
            page.set_input_files("#file", str(images["big"]))
            page.wait_for_function("document.getElementById('status').textContent"
                                   ".startsWith('Ready')")
            page.wait_for_function("document.getElementById('warning').textContent"
                                   ".includes('Expected about')", timeout=60_000)
            warning = page.text_content("#warning")
            assert "GB of memory" in warning and "512 x 512" in warning, warning
            page.evaluate("""() => {
                window.seen = [];
                const bar = document.getElementById('progress');
                new MutationObserver(() => window.seen.push(
                    [bar.hasAttribute('value'), document.getElementById('status').textContent]))
                    .observe(document.getElementById('status'),
                             {childList: true, characterData: true, subtree: true}); }""")
            saved = tmp_path / "big.png"
            status, name = press_upscale(page, saved)
            seen = page.evaluate("window.seen")
            assert [False, "Upscaling: the model runs on tile 1 of 1..."] in seen, seen
            assert any(text.startswith("Encoding PNG") for _, text in seen), seen
            assert name == "bird_512-x3-mine.png", name
            assert Image.open(saved).size == (1536, 1536)
            caption = page.text_content("#output-caption")
            assert caption == "Output: x3 (mine), 1536 x 1536 (shown at 1/4)", caption
            assert page.evaluate("document.getElementById('output').width") == 384
            # WebGPU was wanted (auto) but this Chromium has no adapter: said, not silent
            used = page.text_content("#backend-used")
            assert used.startswith("Backend: WebAssembly (") and "WebGPU" in used, used
            assert "on WebAssembly" in status, status

            # Stop ends a run (a new worker), and the page runs again after it
            page.click("#run")
            page.wait_for_selector("#stop", state="visible")
            page.click("#stop")
            assert page.text_content("#status") == "Stopped."
            assert page.is_enabled("#run") and page.is_hidden("#stop")
            status, _ = press_upscale(page, tmp_path / "again.png")
            assert status.startswith("Done in"), status
        finally:
            browser.close()

