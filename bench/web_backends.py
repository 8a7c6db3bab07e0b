"""The web kit in Chromium, measured side by side in one run (Playwright, Debian's chromium,
`sronnx web` on a free port):

1. Backends: WebGPU (onnxruntime-web's WebGPU build on the adapter Chromium has; on a machine
   without a GPU that is SwiftShader, Vulkan in software) against WebAssembly (SIMD, threads),
   on a BSD100 photo resized to --size, for each --models model: the page's own "Done in X s"
   (the upscale, model loading excluded) of a first and a second run, and the ratio.
2. A large image (--large, a BSD100 photo resized to it) through rsp-x2-int8 on WebAssembly,
   with the page of --baseline (a git commit of this repository; default: none) and this
   checkout's page: seconds from Upscale to the download, the longest time the status line
   stood still, the seconds between "Upscaling: 100%" and the end, and the peak memory of
   Chromium's processes (proportional set size summed over the process tree, sampled every
   0.25 s: a lower bound of the true peak).

    python bench/web_backends.py [--size 128] [--models rsp-x2 rsp-x2-int8 rsp-x3]
                                 [--large 2000] [--baseline f4b9c1b] [--out FILE]

Needs playwright, chromium and sronnx/web/node_modules (npm ci in sronnx/web).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "test" / "BSD100"
BASE_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage",
             "--disable-extensions", "--no-first-run", "--disable-component-update",
             "--disable-sync"]
WEBGPU_ARGS = [*BASE_ARGS, "--enable-unsafe-webgpu"]  # SwiftShader's adapter without a GPU
KIT_FILES = ["index.html", "demo.mjs", "demo.css", "worker.mjs", "sronnx.mjs", "png.mjs",
             "package.json"]

# Logs every change of the status line with its time (ms since the page started).
STATUS_LOG = """() => {
    window.statusLog = [];
    const s = document.getElementById('status');
    new MutationObserver(() => window.statusLog.push([performance.now(), s.textContent]))
        .observe(s, {childList: true, characterData: true, subtree: true}); }"""


def serve(root: Path | None) -> tuple[subprocess.Popen, str]:
    """`sronnx web` on a free port (the kit in `root`, default this checkout's); (process,
    base URL)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "sronnx", "web", "--port", "0", "--quiet"]
    if root is not None:
        cmd += ["--root", str(root)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line[line.index("http://"):].split()[0]


def photo(side: int, folder: Path) -> Path:
    """A BSD100 photo resized (bicubic) to side x side, as PNG."""
    src = sorted(DATA.glob("*.png"))[0]
    path = folder / f"bsd_{side}.png"
    Image.open(src).convert("RGB").resize((side, side), Image.BICUBIC).save(path)
    return path


def tree_pss(root_pid: int) -> int:
    """Proportional set size (bytes) of `root_pid`'s descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, list(children.get(root_pid, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class PeakMemory:
    """Samples `tree_pss` of this process every 0.25 s in a thread; `.peak` in bytes."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_pss(os.getpid()))
            time.sleep(0.25)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_page(page, image: Path, model: str, timeout_s: float) -> dict:  # noqa: ANN001
    """Load `image`, choose `model`, Upscale, wait for the download link; the status log."""
    page.set_input_files("#file", str(image))
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Ready')")
    page.select_option("#model", f"models/{model}.onnx")
    page.evaluate(STATUS_LOG)
    t0 = time.perf_counter()
    page.click("#run")
    page.wait_for_function("['done', 'error'].includes(document.body.dataset.state)",
                           timeout=timeout_s * 1000, polling=500)
    wall = time.perf_counter() - t0
    status = page.text_content("#status")
    if page.evaluate("document.body.dataset.state") != "done":
        raise RuntimeError(status)
    log = page.evaluate("window.statusLog")
    warning = page.evaluate("document.getElementById('warning')?.textContent ?? ''")
    expected = warning.split("Expected about ", 1)[1].split(" on ", 1)[0] if "Expected" in warning \
        else "-"
    return {"wall": wall, "status": status, "log": log, "expected": expected}


def page_seconds(status: str) -> float:
    """The upscale seconds the page reports ("Done in X s ...")."""
    return float(status.split("Done in ", 1)[1].split(" s", 1)[0])


def backends(chromium: str, url: str, image: Path, models: list[str]) -> list[str]:
    from playwright.sync_api import sync_playwright

    lines = [f"## 1. WebGPU against WebAssembly: {image.name}, page's upscale seconds "
             "(run 1 includes WebGPU's shader compilation), second run's ratio", "",
             "| model | WASM run 1 | WASM run 2 | WebGPU run 1 | WebGPU run 2 | "
             "WebGPU's time / WASM's (run 2) |",
             "|---|---|---|---|---|---|"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=WEBGPU_ARGS)
        try:
            page = browser.new_page(accept_downloads=True)
            page.goto(url)
            adapter = page.evaluate("""async () => { const a = navigator.gpu &&
                await navigator.gpu.requestAdapter(); return a ? JSON.stringify(
                {vendor: a.info.vendor, architecture: a.info.architecture}) : null; }""")
            lines.insert(1, f"WebGPU adapter: {adapter or 'none: WebGPU not measured'}")
            times: dict[tuple[str, str], list[float]] = {}
            for backend in ("wasm", "webgpu") if adapter else ("wasm",):
                page.goto(f"{url}?backend={backend}")
                for model in models:
                    for _ in range(2):
                        r = run_page(page, image, model, 1800)
                        times.setdefault((model, backend), []).append(page_seconds(r["status"]))
                        print(backend, model, r["status"], flush=True)
            for model in models:
                w = times[(model, "wasm")]
                g = times.get((model, "webgpu"), [float("nan")] * 2)
                lines.append(f"| {model} | {w[0]:.2f} | {w[1]:.2f} | {g[0]:.2f} | {g[1]:.2f} "
                             f"| {g[1] / w[1]:.1f}x |")
        finally:
            browser.close()
    return lines


def large(chromium: str, urls: dict[str, str], image: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    lines = [f"## 2. A large image: {image.name} x2 (rsp-x2-int8, WebAssembly); the page's "
             "status line logged with its times (the elapsed-seconds counter beside it excluded)",
             "",
             "| page | Upscale to download (s) | page's upscale (s) | longest status silence (s) | "
             "from 'Upscaling: 100%' to the end (s) | longest silence in it (s) | "
             "Chromium peak PSS (GB) | the page's estimate beforehand |",
             "|---|---|---|---|---|---|---|---|"]
    for label, url in urls.items():
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium,
                                        args=[*BASE_ARGS, "--disable-gpu"])
            try:
                page = browser.new_page(accept_downloads=True)
                page.goto(f"{url}?backend=wasm")
                with PeakMemory() as mem:
                    r = run_page(page, image, "rsp-x2-int8", 3600)
                log = r["log"]
                times = [t for t, _ in log]
                gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
                hundred = [t for t, text in log if text.startswith("Upscaling: 100%")]
                tail = (log[-1][0] - hundred[-1]) / 1000 if hundred else float("nan")
                end = [t for t in times if hundred and t >= hundred[-1]]
                quiet = max((b - a for a, b in zip(end, end[1:], strict=False)), default=0)
                lines.append(f"| {label} | {r['wall']:.1f} | {page_seconds(r['status']):.1f} | "
                             f"{max(gaps) / 1000:.1f} | {tail:.1f} | {quiet / 1000:.1f} | "
                             f"{mem.peak / 2**30:.2f} | {r['expected']} |")
                print(label, r["status"], lines[-1], flush=True)
            finally:
                browser.close()
    return lines


def baseline_kit(ref: str, folder: Path) -> Path:
    """The web kit's files at git commit `ref`, with this checkout's node_modules linked."""
    kit = folder / f"kit-{ref}"
    kit.mkdir()
    for name in KIT_FILES:
        blob = subprocess.run(["git", "show", f"{ref}:sronnx/web/{name}"], cwd=ROOT,
                              capture_output=True, check=True).stdout
        (kit / name).write_bytes(blob)
    (kit / "node_modules").symlink_to((ROOT / "sronnx" / "web" / "node_modules").resolve())
    return kit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--models", nargs="+", default=["rsp-x2", "rsp-x2-int8", "rsp-x3"])
    ap.add_argument("--large", type=int, default=2000, help="side of the large image (0: skip)")
    ap.add_argument("--baseline", default=None, help="git commit whose page to compare")
    ap.add_argument("--skip-backends", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), platform.processor())
    version = subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout
    lines = [f"# The web kit in Chromium: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
             "", f"`python bench/web_backends.py {' '.join(sys.argv[1:])}` at {head}; {cpu}, "
             f"{os.cpu_count()} cores (shared with other jobs: timings are rough); "
             f"{version.strip()}; onnxruntime-web 1.30.0.", ""]
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            proc, url = serve(None)
            procs.append(proc)
            if not args.skip_backends:
                lines += [*backends(chromium, url, photo(args.size, folder), args.models), ""]
            if args.large:
                urls = {f"after ({head})": url}
                if args.baseline:  # after, before, after: the machine's load drifts
                    bproc, burl = serve(baseline_kit(args.baseline, folder))
                    procs.append(bproc)
                    urls = {f"after ({head})": url, f"before ({args.baseline})": burl,
                            f"after ({head}), again": url}
                lines += [*large(chromium, urls, photo(args.large, folder)), ""]
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
