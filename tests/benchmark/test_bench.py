"""`sronnx bench` on real images and real runtimes: the bicubic rows against the published
tables, models whose scores are known by hand, the JSON schema, peers, runtimes and errors.
Speed figures are checked for consistency only, never against thresholds."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from helpers import SHARED, bench, data_dir
from PIL import Image

from sronnx.benchmark.machine import parse_cpuinfo
from sronnx.benchmark.plot import pareto_front
from sronnx.benchmark.rows import ROW_KEYS
from sronnx.benchmark.speed import time_calls
from sronnx.cli import main
from sronnx.core.shipped import default_model_name, shipped_models

# Bicubic PSNR-Y of the published tables (dB).
PUBLISHED = {("Set5", 2): 33.66, ("Set5", 3): 30.39, ("Set5", 4): 28.42,
             ("Set14", 2): 30.23, ("Set14", 3): 27.54, ("Set14", 4): 26.00}
FAST = ["--repeats", "2", "--warmup", "1", "--min-time", "0"]
# what `sronnx bench` measures by default: (name, scale) of every shipped model
SHIPPED = [(m.name, m.scale) for m in shipped_models() if m.scale in (2, 3, 4)]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One run on Set5 and Set14 as the issue writes it (`--data A B`), with every output."""
    set5, set14 = data_dir("test", "Set5"), data_dir("test", "Set14")
    out = tmp_path_factory.mktemp("bench")
    # one shipped model keeps it short; the default list is run in the torch-free test
    code, stdout, stderr = bench("--models", SHIPPED[0][0], "--data", str(set5), str(set14),
                                 "--runtimes", "cpu",
                                 "--size", "64x48", *FAST, "--json", str(out / "r.json"),
                                 "--md", str(out / "r.md"), "--plot", str(out / "r.png"))
    assert code == 0, stderr
    return {"rows": json.loads((out / "r.json").read_text()), "stdout": stdout,
            "stderr": stderr, "out": out, "images": {
                "Set5": len(list(set5.glob("*.png"))), "Set14": len(list(set14.glob("*.png")))}}


def _quality(rows: list[dict], model: str, dataset: str, scale: int) -> dict:
    found = [r for r in rows if r["kind"] == "quality" and r["model"] == model
             and r["dataset"] == dataset and r["scale"] == scale]
    assert len(found) == 1, (model, dataset, scale, found)
    return found[0]


# ------------------------------------------------------------------------------ calibration


def test_bicubic_rows_reproduce_the_published_tables(bench_run: dict) -> None:
    for (dataset, scale), published in PUBLISHED.items():
        row = _quality(bench_run["rows"], "bicubic", dataset, scale)
        assert abs(row["psnr_y"] - published) <= 0.1, (dataset, scale, row["psnr_y"])
        assert row["images"] == bench_run["images"][dataset]


def test_shipped_model_beats_bicubic(bench_run: dict) -> None:
    # an output misaligned by a pixel, flipped or with swapped channels would fall far below
    assert SHIPPED, "no shipped model to measure"
    for name, scale in SHIPPED[:1]:
        for dataset in ("Set5", "Set14"):
            model = _quality(bench_run["rows"], name, dataset, scale)
            bicubic = _quality(bench_run["rows"], "bicubic", dataset, scale)
            assert model["psnr_y"] > bicubic["psnr_y"] + 0.5, (dataset, model, bicubic)
            assert model["ssim_y"] > bicubic["ssim_y"]
            assert model["mse"] < bicubic["mse"]
            assert model["runtime"] == "cpu" and model["params"] > 0


# ------------------------------------------------------------------------------ JSON schema


def test_json_is_a_list_of_rows_machine_first(bench_run: dict) -> None:
    rows = bench_run["rows"]
    machine, rest = rows[0], rows[1:]
    assert machine["kind"] == "machine"
    assert machine["onnxruntime"] == ort.__version__
    assert "CPUExecutionProvider" in machine["providers"]
    assert isinstance(machine["isa"], list) and machine["cores_logical"] >= 1
    if Path("/proc/cpuinfo").is_file():
        assert machine["cpu_model"]
    assert {r["kind"] for r in rest} == {"quality", "speed"}
    for r in rest:
        assert list(r) == list(ROW_KEYS), r
        assert r["model"] and r["scale"] in (2, 3, 4)
    for r in (r for r in rest if r["kind"] == "quality"):
        assert r["dataset"] in ("Set5", "Set14")
        assert 0 < r["ssim_y"] < 1 and 0 < r["mse"] < 1 and 20 < r["psnr_y"] < 50
        assert r["latency_ms_p50"] is None


def test_speed_rows_are_consistent(bench_run: dict) -> None:
    speed = [r for r in bench_run["rows"] if r["kind"] == "speed"]
    assert sorted((r["model"], r["runtime"], r["scale"]) for r in speed) == sorted(
        [("bicubic", "pillow", s) for s in (2, 3, 4)] + [(n, "cpu", s) for n, s in SHIPPED[:1]])
    for r in speed:
        s = r["scale"]
        assert r["input_size"] == "64x48" and r["output_size"] == f"{64 * s}x{48 * s}"
        assert r["repeats"] >= 2 and r["warmup"] == 1
        assert r["latency_ms_p95"] >= r["latency_ms_p50"] > 0
        pixels = 64 * s * 48 * s
        assert r["mp_per_s"] == pytest.approx(pixels / (r["latency_ms_p50"] / 1e3) / 1e6)
        assert r["images_per_s"] == pytest.approx(1e3 / r["latency_ms_p50"])
        assert r["psnr_y"] is None and r["dataset"] is None
        if r["runtime"] == "cpu":
            assert r["threads"] >= 1 and r["macs_per_pixel"] > 0
            assert r["gflops"] == pytest.approx(
                2 * r["macs_per_pixel"] * pixels / (r["latency_ms_p50"] / 1e3) / 1e9)


def test_terminal_markdown_and_plot(bench_run: dict) -> None:
    lines = bench_run["stdout"].splitlines()
    assert lines[0].startswith("machine: ")
    name, scale = SHIPPED[0]
    assert any(line.split()[:3] == [name, f"x{scale}", "Set5"] for line in lines)
    assert any(line.split()[:3] == [name, f"x{scale}", "cpu"] for line in lines)
    md = (bench_run["out"] / "r.md").read_text()
    assert "| model | scale | dataset | PSNR-Y dB |" in md
    assert f"sronnx bench --models {name} --data " in md  # the command, to rerun it
    assert (bench_run["out"] / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- hand-computed synthetic case


def _nearest_model(path: Path, offset: float) -> Path:
    """An sronnx-contract ONNX model: nearest-neighbour x2 plus a constant, clipped."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from sronnx.core.card import CARD_KEY
    from sronnx.core.descriptor import METADATA_KEY, ModelDescriptor

    nodes = [
        helper.make_node("Resize", ["input", "", "scales"], ["up"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("Add", ["up", "offset"], ["shifted"]),
        helper.make_node("Clip", ["shifted", "lo", "hi"], ["output"]),
    ]
    inits = [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2]),
             helper.make_tensor("offset", TensorProto.FLOAT, [], [offset]),
             helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]),
             helper.make_tensor("hi", TensorProto.FLOAT, [], [1.0])]
    graph = helper.make_graph(
        nodes, "nearest", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                         ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3, "h2", "w2"])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    for key, value in ((METADATA_KEY, ModelDescriptor(arch="nearest", scale=2).to_json()),
                       (CARD_KEY, json.dumps({"params": 0, "macs_per_pixel": 0.0}))):
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def test_synthetic_models_give_hand_computed_scores(tmp_path: Path) -> None:
    # 1. A flat colour: bicubic is exact (PSNR infinite -> null in JSON), and a model that adds
    # 10/255 to every channel is off by 10 * (65.481 + 128.553 + 24.966) / 255 on Y.
    flat = tmp_path / "flat"
    flat.mkdir()
    colour = (100, 150, 50)
    Image.new("RGB", (48, 36), colour).save(flat / "a.png")
    # 2. A real photograph: nearest-neighbour upscaling of the bicubic LR, computed here.
    photo = tmp_path / "photo"
    photo.mkdir()
    hr = np.asarray(Image.open(data_dir("test", "Set5") / "baby.png").convert("RGB"))
    hr = hr[100:181, 200:297]  # 97x81: odd, so the crop to a multiple of 2 matters
    Image.fromarray(hr).save(photo / "b.png")
    plus10 = _nearest_model(tmp_path / "plus10.onnx", 10 / 255)
    nearest = _nearest_model(tmp_path / "nearest.onnx", 0.0)
    code, _, stderr = bench("--models", str(plus10), "--models", str(nearest), "--data",
                            str(flat), str(photo), "--scales", "2", "--no-speed", "--json",
                            str(tmp_path / "r.json"))
    assert code == 0, stderr
    rows = json.loads((tmp_path / "r.json").read_text())

    bicubic = _quality(rows, "bicubic", "flat", 2)
    assert bicubic["psnr_y"] is None and bicubic["mse"] == 0 and bicubic["ssim_y"] == 1.0
    row = _quality(rows, "plus10", "flat", 2)
    dy = 10 * 219.0 / 255
    assert row["psnr_y"] == pytest.approx(20 * math.log10(255 / dy), abs=1e-9)  # 29.45 dB
    assert row["mse"] == pytest.approx((10 / 255) ** 2, rel=1e-12)
    y = 16 + (65.481 * 100 + 128.553 * 150 + 24.966 * 50) / 255
    c1 = (0.01 * 255) ** 2
    # flat images: no variance, SSIM is the luminance term alone
    assert row["ssim_y"] == pytest.approx((2 * y * (y + dy) + c1) / (y**2 + (y + dy)**2 + c1),
                                          abs=1e-12)

    hr_c = hr[:80, :96].astype(np.float64)
    lr = np.asarray(Image.fromarray(hr[:80, :96]).resize((48, 40), Image.BICUBIC))
    sr = np.repeat(np.repeat(lr, 2, axis=0), 2, axis=1).astype(np.float64)

    def luma(a: np.ndarray) -> np.ndarray:
        return 16 + (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255

    err = (luma(sr) - luma(hr_c))[2:-2, 2:-2]
    expected = 10 * math.log10(255**2 / np.mean(err**2))
    row = _quality(rows, "nearest", "photo", 2)
    assert row["psnr_y"] == pytest.approx(expected, abs=1e-9)
    assert row["mse"] == pytest.approx(np.mean(((sr - hr_c) / 255)[2:-2, 2:-2] ** 2), rel=1e-9)
    assert row["psnr_y"] < _quality(rows, "bicubic", "photo", 2)["psnr_y"]


# ------------------------------------------------------------------------ runtimes and errors


def test_cuda_without_cuda_is_skipped_or_refused(tmp_path: Path) -> None:
    from sronnx.runtime.session import cuda_unavailable_reason

    if cuda_unavailable_reason() is None:
        pytest.skip("CUDA is available here")
    code, _, stderr = bench("--runtimes", "cuda", "--no-quality", "--size", "16x16", *FAST)
    assert code == 2 and "cuda" in stderr.lower() and "no requested runtime" in stderr
    code, _, stderr = bench("--runtimes", "cpu,cuda", "--no-quality", "--size", "16x16",
                            "--scales", "2", *FAST, "--json", str(tmp_path / "r.json"))
    assert code == 0 and "skipping runtime cuda" in stderr
    runtimes = {r["runtime"] for r in json.loads((tmp_path / "r.json").read_text())[1:]}
    assert runtimes == {"pillow", "cpu"}


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    assert bench("--size", "64", "--no-quality")[0] == 2
    code, _, stderr = bench("--models", "no-such-model", "--no-speed")
    assert code == 2 and "no-such-model" in stderr
    code, _, stderr = bench("--data", str(tmp_path / "missing"), "--no-speed")
    assert code == 2 and "missing" in stderr
    code, _, stderr = bench("--runtimes", "tpu", "--no-quality")
    assert code == 2 and "tpu" in stderr


def test_torch_runtime_uses_the_onnx_weights(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    code, _, stderr = bench("--runtimes", "torch", "--no-quality", "--scales", "2",
                            "--size", "24x16", *FAST, "--json", str(tmp_path / "r.json"))
    assert code == 0, stderr
    float32 = default_model_name(2, "cuda")  # the float32 file: an int8 one has no torch twin
    row = next(r for r in json.loads((tmp_path / "r.json").read_text())
               if r["kind"] == "speed" and r["runtime"] == "torch" and r["model"] == float32)
    assert "weights from the ONNX file" in row["note"]
    assert row["output_size"] == "48x32"


def test_default_bench_without_torch_measures_every_shipped_model(tmp_path: Path) -> None:
    set5 = data_dir("test", "Set5")
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None
        sys.modules["onnx"] = None
        from sronnx.cli import main
        try:
            main(["bench", "--data", {str(set5)!r}, "--size", "16x16",
                  "--repeats", "1", "--warmup", "0", "--min-time", "0", "--quiet",
                  "--json", {str(tmp_path / "r.json")!r}])
        except SystemExit as e:
            assert e.code == 0, e.code
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "r.json").read_text())
    # without torch the default runtimes are the ONNX Runtime ones
    assert {r["runtime"] for r in rows if r["kind"] == "speed"} == {"pillow", "cpu"}
    assert "skipping runtime torch" in r.stderr
    assert {(r["model"], r["scale"]) for r in rows if r["kind"] == "speed"
            and r["runtime"] == "cpu"} == set(SHIPPED)
    for name, scale in SHIPPED:
        model, bicubic = _quality(rows, name, "Set5", scale), _quality(rows, "bicubic", "Set5",
                                                                       scale)
        assert model["psnr_y"] > bicubic["psnr_y"] + 0.5, (model, bicubic)


def test_bench_refuses_a_named_model_outside_the_scales() -> None:
    r = CliRunner().invoke(main, ["bench", "--models", "rsp-x3", "--scales", "2", "--no-quality",
                                  "--runtimes", "cpu", "--size", "16x16"])
    assert r.exit_code == 2
    assert "rsp-x3 is a x3 model" in r.output and "--scales 2" in r.output


def test_bench_has_no_torch_row_for_an_int8_file(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["bench", "--models", "rsp-x2", "--models", "rsp-x2-int8",
                                  "--scales", "2", "--no-quality", "--runtimes", "torch,cpu",
                                  "--size", "24x16", "--warmup", "0", "--repeats", "1",
                                  "--min-time", "0", "--json", str(out)])
    assert r.exit_code == 0, r.output
    speed = [(x["model"], x["runtime"]) for x in json.loads(out.read_text())
             if x["kind"] == "speed"]
    assert ("rsp-x2", "torch") in speed and ("rsp-x2-int8", "cpu") in speed
    assert ("rsp-x2-int8", "torch") not in speed
    assert "skipping rsp-x2-int8 on torch: a int8 file has no PyTorch twin" in r.output


# ----------------------------------------------------------------------------------- peers


def _dnn_superres() -> Any:
    """cv2 when it has dnn_superres (else the test skips, saying why)."""
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "dnn_superres"):
        pytest.skip("OpenCV without dnn_superres (needs opencv-contrib-python-headless)")
    return cv2


def _refused_without_tensorflow_importer(cv2: Any, code: int, stderr: str) -> bool:
    """On OpenCV >= 5.1 (no TensorFlow importer), whether bench refused the .pb peers in one
    line naming the version and what to install, as it must; False on OpenCV < 5.1."""
    if hasattr(cv2.dnn, "readNetFromTensorflow"):
        return False
    assert code == 2 and "Traceback" not in stderr, stderr
    line = [ln for ln in stderr.splitlines() if "--peer-opencv" in ln]
    assert len(line) == 1 and cv2.__version__ in line[0], stderr
    assert "opencv-contrib-python-headless>=4.5,<5.1" in line[0], stderr
    return True


def test_opencv_peers_are_measured_the_same_way(tmp_path: Path) -> None:
    cv2 = _dnn_superres()
    peers = SHARED / "peers" / "opencv_dnn_superres"
    if not peers.is_dir():
        pytest.skip(f"peer models not available: {peers}")
    code, _, stderr = bench("--data", str(data_dir("test", "Set5")), "--scales", "2",
                            "--models", SHIPPED[0][0], "--peer-opencv", str(peers),
                            "--runtimes", "cpu", "--size", "32x24", *FAST,
                            "--json", str(tmp_path / "r.json"))
    if _refused_without_tensorflow_importer(cv2, code, stderr):
        return
    assert code == 0, stderr
    rows = json.loads((tmp_path / "r.json").read_text())
    names = {"opencv-espcn", "opencv-fsrcnn", "opencv-fsrcnn-small"}
    assert {r["model"] for r in rows if r.get("source") == "peer" and
            r["kind"] == "quality"} == names
    assert {r["model"] for r in rows if r.get("runtime") == "opencv"} == names
    bicubic = _quality(rows, "bicubic", "Set5", 2)["psnr_y"]
    for name in names:  # OpenCV's models gain about 1 dB at x2 (and little at x3, x4)
        assert _quality(rows, name, "Set5", 2)["psnr_y"] > bicubic + 0.5, name
    # ESPCN on Y at x2: 5x5x64, 3x3x32, 3x3x4 convolutions, all on the LR grid
    espcn = _quality(rows, "opencv-espcn", "Set5", 2)
    weights = 25 * 64 + 9 * 64 * 32 + 9 * 32 * 4
    assert espcn["params"] == weights + 64 + 32 + 4
    assert espcn["macs_per_pixel"] == pytest.approx(weights / 4)


def test_an_unreadable_peer_file_is_refused_by_name(tmp_path: Path) -> None:
    cv2 = _dnn_superres()
    (tmp_path / "ESPCN_x2.pb").write_bytes(b"not a TensorFlow graph")
    code, _, stderr = bench("--scales", "2", "--models", SHIPPED[0][0], "--runtimes", "cpu",
                            "--no-quality", "--size", "16x16", *FAST,
                            "--peer-opencv", str(tmp_path))
    if _refused_without_tensorflow_importer(cv2, code, stderr):
        return
    assert code == 2, stderr
    assert "ESPCN_x2.pb" in stderr and "Traceback" not in stderr


# --------------------------------------------------------------------------- small helpers


def test_pareto_front_by_hand() -> None:
    points = [(1.0, 30.0), (2.0, 29.0), (0.5, 31.0), (1.5, 28.0), (2.0, 29.5)]
    # (2, 29.5) beats (2, 29) and (1.5, 28); (1, 30) and (0.5, 31) trade speed for quality
    assert pareto_front(points) == [2, 0, 4]
    assert pareto_front([(1.0, 1.0)]) == [0]


def test_parse_cpuinfo() -> None:
    block = ("processor\t: {n}\nmodel name\t: Test CPU 9000\nphysical id\t: {p}\n"
             "core id\t: {c}\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni "
             "amx_tile amx_int8\n\n")
    text = "".join(block.format(n=n, p=p, c=c)
                   for n, (p, c) in enumerate([(0, 0), (0, 1), (0, 0), (0, 1)]))
    info = parse_cpuinfo(text)
    assert info["cpu_model"] == "Test CPU 9000"
    assert info["cores_physical"] == 2  # 4 hyper-threads on 2 cores
    assert info["isa"] == ["sse4_2", "avx", "fma", "avx2", "avx512f", "avx512_vnni",
                           "amx_tile", "amx_int8"]


def test_time_calls_excludes_warmup() -> None:
    calls = []
    timing = time_calls(lambda: calls.append(1), warmup=3, repeats=5, min_time=0.0)
    assert len(calls) == 8 and len(timing.latencies_s) == 5 and timing.warmup == 3
