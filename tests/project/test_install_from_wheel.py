"""What the README promises after `pip install sronnx`, from the wheel, not from a checkout.

The wheel is built from this checkout and installed into a fresh venv (the base install: no
extra, so no torch), with the locked versions of its dependencies. Each command the README
shows for that install then runs from a folder outside the checkout, so nothing of the
checkout can be imported by accident: `--help`, `models`, `info`, the quick start's `upscale`
of a folder, `upscale` from stdin, `bench` and `web` (which finds onnxruntime-web in its runtime
cache, and says which `npm install` puts it there when it is missing).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from helpers import ROOT, data_dir

LOCK = ROOT / "requirements" / "dev.lock"
ORT_WEB = ROOT / "sronnx" / "web" / "node_modules" / "onnxruntime-web"


def _constraints(folder: Path) -> Path:
    """The lock's versions without hashes, as a constraints file (hash-checking mode does not
    apply to a local wheel)."""
    pins = re.findall(r"^([A-Za-z0-9_.\-]+==[^\s\\]+)", LOCK.read_text(), re.MULTILINE)
    path = folder / "constraints.txt"
    path.write_text("\n".join(pins) + "\n")
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh venv with the wheel built from this checkout installed."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "--quiet", "-w", str(dist), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    wheels = list(dist.glob("sronnx-*.whl"))
    assert len(wheels) == 1, wheels
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                              "-c", str(_constraints(root)), str(wheels[0])],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    return venv / "bin"


def _sronnx(bin_dir: Path, *args: str, cwd: Path, env: dict[str, str] | None = None,
            stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment.update(env or {})
    return subprocess.run([str(bin_dir / "sronnx"), *args], cwd=cwd, env=environment,
                          input=stdin, capture_output=True, timeout=600)


def test_the_wheel_holds_the_package_and_no_torch(installed: Path, tmp_path: Path) -> None:
    probe = subprocess.run(
        [str(installed / "python"), "-c",
         "import importlib.util as u, sronnx, sronnx.web as w; print(sronnx.__file__); "
         "print(w.KIT); print(u.find_spec('torch') is None)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    module, kit, no_torch = probe.stdout.split()
    assert "site-packages" in module and not module.startswith(str(ROOT))
    assert no_torch == "True"
    files = {p.name for p in Path(kit).iterdir()}
    assert {"index.html", "worker.mjs", "sronnx.mjs", "demo.mjs", "png.mjs", "demo.css",
            "verify_runner.mjs", "package.json", "package-lock.json"} <= files
    assert "node_modules" not in files


def test_the_readme_commands_run_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    assert _sronnx(installed, "--help", cwd=tmp_path).returncode == 0
    models = _sronnx(installed, "models", cwd=tmp_path)
    assert models.returncode == 0 and b"rsp-x2" in models.stdout, models.stderr
    info = _sronnx(installed, "info", "rsp-x2", "--json", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["descriptor"]["scale"] == 2
    # the quick start, on Set5 (Set14's form, fewer images)
    src = data_dir("test", "Set5")
    up = _sronnx(installed, "upscale", str(src), "-o", "out", cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in src.iterdir() if p.suffix == ".png")
    one = _sronnx(installed, "upscale", "-", "-o", "-", "--format", "png", cwd=tmp_path,
                  stdin=(src / "bird.png").read_bytes())
    assert one.returncode == 0 and one.stdout[:8] == b"\x89PNG\r\n\x1a\n", one.stderr
    bench = _sronnx(installed, "bench", "--models", "rsp-x2", "--data", str(src), "--scales",
                    "2", "--no-speed", "--json", "b.json", cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr
    rows = json.loads((tmp_path / "b.json").read_text())
    assert {r["model"] for r in rows if r["kind"] == "quality"} == {"rsp-x2", "bicubic"}


def test_web_from_the_wheel_finds_or_names_onnxruntime_web(installed: Path,
                                                            tmp_path: Path) -> None:
    empty = tmp_path / "empty-cache"
    missing = _sronnx(installed, "web", "--port", "0", cwd=tmp_path,
                      env={"SRONNX_WEB_RUNTIME": str(empty)})
    err = missing.stderr.decode()
    assert missing.returncode == 2 and "Traceback" not in err, err
    assert f"npm install --prefix {empty} onnxruntime-web@" in err
    if not (ORT_WEB / "dist").is_dir():
        pytest.skip("sronnx/web/node_modules/onnxruntime-web is missing (npm ci in sronnx/web)")
    # the runtime cache as `npm install --prefix CACHE onnxruntime-web@...` leaves it
    cache = tmp_path / "cache"
    (cache / "node_modules").mkdir(parents=True)
    (cache / "node_modules" / "onnxruntime-web").symlink_to(ORT_WEB)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["SRONNX_WEB_RUNTIME"] = str(cache)
    proc = subprocess.Popen([str(installed / "sronnx"), "web", "--port", "0", "--quiet"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        base = line[line.index("http://"):].split()[0]
        for path in ("", "worker.mjs", "node_modules/onnxruntime-web/dist/ort.wasm.min.mjs",
                     "node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm",
                     "models/rsp-x2-int8.onnx"):
            with urllib.request.urlopen(base + path, timeout=30) as resp:
                assert resp.status == 200 and resp.read(), path
                assert resp.headers["Cross-Origin-Embedder-Policy"] == "require-corp", path
    finally:
        proc.terminate()
        proc.wait(timeout=10)
