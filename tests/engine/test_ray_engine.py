"""`sronnx upscale --engine ray`: the same job as the local engine, on a Ray cluster.

The module starts one local Ray cluster (2 CPUs, no dashboard) and stops it at the end;
runs in this process use it as it is, runs in a subprocess join it with --ray-address.
Without Ray the module is skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, data_dir, local_ray_cluster
from PIL import Image

try:
    import ray
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("ray is not installed (pip install 'sronnx[cluster]')",
                allow_module_level=True)

from sronnx.cli import main
from sronnx.engine.ray_engine import NAMESPACE, worker_state
from sronnx.io.images import PART_SUFFIX, write_image


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One local Ray cluster for the module: its address."""
    with local_ray_cluster() as address:
        yield address


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 inputs: Set5 whole, five 160x160 crops of Set14, an RGBA PNG, a 16-bit PNG and a
    JPEG (which the default-model rule gives the JPEG model), in a folder with a sub-folder."""
    set5, set14 = data_dir("test", "Set5"), data_dir("test", "Set14")
    folder = tmp_path_factory.mktemp("ray_in")
    for p in sorted(set5.glob("*.png")):
        shutil.copy(p, folder / p.name)
    (folder / "sub").mkdir()
    for p in sorted(set14.glob("*.png"))[:5]:
        Image.open(p).convert("RGB").crop((0, 0, 160, 160)).save(folder / "sub" / p.name)
    rgb = np.asarray(Image.open(set14 / "lenna.png").convert("RGB"))[:120, :140]
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1], dtype=np.uint8), (rgb.shape[0], 1))
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(folder / "rgba.png")
    deep = (np.asarray(Image.open(set14 / "pepper.png").convert("RGB"))[:100, :120]
            .astype(np.uint16) * 257)
    write_image(folder / "deep16.png", deep, "PNG")
    Image.fromarray(rgb).save(folder / "photo.jpg", quality=50)
    return folder


def _run(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """sronnx ARGS in this process: (exit code, standard error)."""
    capsys.readouterr()
    try:
        main(["upscale", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def local_out(images: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The local engine's outputs and report for `images`."""
    out = tmp_path_factory.mktemp("local_out")
    report = out.parent / "local.json"
    try:
        main(["upscale", str(images), "-o", str(out), "--recursive", "--quiet",
              "--json", str(report)])
    except SystemExit as exc:
        assert exc.code == 0, exc.code
    return out, json.loads(report.read_text())


def test_same_outputs_as_local(cluster: str, images: Path, local_out: tuple[Path, dict],
                               tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, report = tmp_path / "out", tmp_path / "ray.json"
    code, err = _run([str(images), "-o", str(out), "--recursive", "--engine", "ray",
                      "--json", str(report)], capsys)
    assert code == 0, err
    assert "engine ray: 2 actor(s)" in err
    expected = _hashes(local_out[0])
    assert len(expected) == 13
    assert _hashes(out) == expected  # byte for byte, 16-bit and alpha included
    got = json.loads(report.read_text())
    assert got["engine"] == "ray" and got["done"] == 13 and got["exit_code"] == 0
    local_files = {f["input"]: f for f in local_out[1]["files"]}
    for f in got["files"]:  # the same model per file (the JPEG gets the JPEG model)
        assert f["model"] == local_files[f["input"]]["model"], f["input"]
        assert f["node"] and f["pid"] and f["pid"] != os.getpid()
    jpeg = next(f for f in got["files"] if f["input"].endswith("photo.jpg"))
    assert "jpeg" in jpeg["model"]


def test_skip_existing_resumes(cluster: str, images: Path, local_out: tuple[Path, dict],
                               tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    shutil.copytree(local_out[0], out)
    gone = ["baby.png", "sub/baboon.png", "deep16.png"]
    for name in gone:
        (out / name).unlink()
    code, err = _run([str(images), "-o", str(out), "--recursive", "--engine", "ray"], capsys)
    assert code == 2 and "already exist" in err  # refused up front, as locally
    report = tmp_path / "r.json"
    code, err = _run([str(images), "-o", str(out), "--recursive", "--engine", "ray",
                      "--skip-existing", "--json", str(report)], capsys)
    assert code == 0, err
    got = json.loads(report.read_text())
    assert (got["done"], got["skipped"]) == (3, 10)
    assert _hashes(out) == _hashes(local_out[0])


def test_bad_file_among_good(cluster: str, images: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for p in sorted(images.glob("*.png"))[:3]:
        shutil.copy(p, src / p.name)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a PNG")
    out, report = tmp_path / "out", tmp_path / "r.json"
    code, err = _run([str(src), "-o", str(out), "--engine", "ray", "--json", str(report)],
                     capsys)
    assert code == 1
    failed = [line for line in err.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "broken.png" in failed[0]
    got = json.loads(report.read_text())
    assert (got["done"], got["failed"], got["exit_code"]) == (3, 1, 1)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in src.iterdir()
                                                           if p.name != "broken.png")


def test_worker_killed_mid_run_costs_a_retry(cluster: str, images: Path,
                                             local_out: tuple[Path, dict],
                                             tmp_path: Path) -> None:
    """kill -9 of one actor's process while it is inside a file: the actor is restarted,
    its files retried; every output is there and byte-identical, no part file is left."""
    out, report = tmp_path / "out", tmp_path / "r.json"
    before = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sronnx", "upscale", str(images), "-o", str(out), "--recursive",
         "--engine", "ray", "--ray-address", cluster, "--json", str(report)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)})
    killed = None
    deadline = time.monotonic() + 90
    try:
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                     if a["namespace"] == NAMESPACE and a["name"] not in before
                     and a["name"].startswith("sronnx-upscale-")]
            for name in sorted(names):
                try:
                    actor = ray.get_actor(name, namespace=NAMESPACE)
                    pid, _, current = ray.get(worker_state(actor), timeout=10)
                except Exception:  # noqa: BLE001 - not started yet, or already gone
                    continue
                if current is not None:  # a file in flight: kill its worker now
                    os.kill(pid, 9)
                    killed = (pid, current)
                    break
            time.sleep(0.02)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, "no file was seen in flight"
    assert proc.returncode == 0, err
    got = json.loads(report.read_text())
    assert got["done"] == 13 and got["failed"] == 0
    retried = next(f for f in got["files"] if f["input"] == killed[1])
    assert retried["status"] == "done" and retried["pid"] != killed[0]  # on the new process
    assert _hashes(out) == _hashes(local_out[0])
    assert not list(out.rglob(f"*{PART_SUFFIX}")) and not list(out.rglob("*.tmp"))


def test_local_engine_imports_no_ray(images: Path, tmp_path: Path) -> None:
    """--engine local runs with ray blocked from import; --engine ray then exits 2 with the
    install hint."""
    out = tmp_path / "out"
    code = f"""
import sys
sys.modules["ray"] = None
from sronnx.cli import main
for args, want in (([{str(images)!r}, "-o", {str(out)!r}, "--quiet"], 0),
                   ([{str(images)!r}, "-o", {str(out)!r} + "2", "--engine", "ray"], 2)):
    try:
        main(["upscale", *args])
    except SystemExit as e:
        assert e.code == want, (args, e.code)
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr
    assert "pip install 'sronnx[cluster]'" in r.stderr
    assert len(list(out.glob("*.png"))) == 7


def test_sigterm_ends_files_in_flight_and_reports(cluster: str, tmp_path: Path) -> None:
    """SIGTERM to a Ray run (joined to the cluster): the files in flight end, the report
    says "terminated", exit 143, no part file; the cluster it joined keeps running."""
    bsd = data_dir("test", "BSD100")
    out, report = tmp_path / "out", tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sronnx", "upscale", str(bsd), "-o", str(out), "--quiet",
         "--engine", "ray", "--ray-address", cluster, "--json", str(report)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)})
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and \
            not (out.is_dir() and list(out.glob("*.png"))):
        time.sleep(0.05)
    proc.terminate()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    got = json.loads(report.read_text())
    assert got["stopped"] == "terminated" and got["exit_code"] == 143
    assert got["done"] == len(list(out.glob("*.png"))) and got["not_processed"] > 0
    assert not list(out.glob(f"*{PART_SUFFIX}"))
    assert ray.cluster_resources().get("CPU") == 2  # still there for the next test
