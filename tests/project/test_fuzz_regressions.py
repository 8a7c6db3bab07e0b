"""Every fuzz finding (tests/fuzz, issue 17), kept: the input or its generator, and what must
happen to it now. Hostile models run in a child process under RLIMIT_AS, so a regression
can never take the test machine down."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from sronnx.core.card import ModelFileError
from sronnx.engine.planner import image_header
from sronnx.io.animation import read_animation
from sronnx.io.images import ImageReadError, read_image
from sronnx.runtime.memory import memory_refusal
from sronnx.runtime.session import load_model, model_memory_limit

REGRESSIONS = ROOT / "tests" / "fuzz" / "regressions"
SHIPPED = ROOT / "sronnx" / "models"
PADS = 12_000  # a 20x16 image padded by this on every side: 6.9 GB of float32


def _limited(code: str, tmp_path: Path, memory_gb: float = 2.5,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`code` in a child python whose address space is capped at `memory_gb`."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({int(memory_gb * (1 << 30))},) * 2)
    """) + textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return _limited(f"import sys\nfrom sronnx.cli import main\nsys.argv = ['sronnx', "
                    f"*{list(args)!r}]\nmain()\n", tmp_path)


def _one_line_error(proc: subprocess.CompletedProcess, path: Path) -> str:
    """The CLI's error output: no traceback, no ONNX Runtime retry pages, and a line naming
    the file."""
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "Traceback" not in text and "EP Error" not in text and "retrying" not in text, text
    lines = [line for line in text.splitlines() if path.name in line]
    assert lines, text
    return lines[0]


# finding 1 (issue): a mutated shipped model whose metadata is not UTF-8

def _non_utf8_metadata(tmp_path: Path) -> Path:
    data = bytearray((SHIPPED / "rsp-x2.onnx").read_bytes())
    at = data.index(b'"precision"')
    data[at + 1] = 0xFF  # same length: the protobuf stays valid, the string does not
    path = tmp_path / "bad-metadata.onnx"
    path.write_bytes(bytes(data))
    return path


def test_non_utf8_metadata_is_a_model_file_error(tmp_path):
    path = _non_utf8_metadata(tmp_path)
    with pytest.raises(ModelFileError, match="unreadable metadata"):
        load_model(path)


@pytest.mark.parametrize("command", [["info"], ["upscale", "-o", "OUT"]])
def test_non_utf8_metadata_cli_says_one_line(tmp_path, command):
    path = _non_utf8_metadata(tmp_path)
    if command[0] == "upscale":
        from PIL import Image

        image = tmp_path / "in.png"
        Image.new("RGB", (20, 16), (90, 120, 30)).save(image)
        command = ["upscale", str(image), "-n", str(path), "-o", str(tmp_path / "out")]
    else:
        command = ["info", str(path)]
    line = _one_line_error(_cli(tmp_path, *command), path)
    assert "metadata" in line


# finding 2 (issue): a Pad with huge pads asks for > 6 GB on a 20x16 image

def _pad_model(tmp_path: Path, sronnx_metadata: bool) -> Path:
    pytest.importorskip("onnx")
    import json

    from sronnx.core.card import CARD_KEY
    from sronnx.core.descriptor import METADATA_KEY, ModelDescriptor
    from tests.fuzz.make_corpus import tiny_model

    meta = {METADATA_KEY: ModelDescriptor("pad", 1).to_json(),
            CARD_KEY: json.dumps({"spec": "pad"})} if sronnx_metadata else None
    path = tmp_path / f"huge-pad-{'sronnx' if sronnx_metadata else 'foreign'}.onnx"
    path.write_bytes(tiny_model("pad", meta, pads=PADS))
    return path


@pytest.mark.parametrize("sronnx_metadata", [False, True])
def test_huge_pad_is_refused_at_load(tmp_path, sronnx_metadata):
    path = _pad_model(tmp_path, sronnx_metadata)
    proc = _limited(f"""
        from sronnx.core.card import ModelFileError
        from sronnx.runtime.session import load_model
        try:
            load_model({str(path)!r})
        except ModelFileError as exc:
            print("REFUSED", exc)
        else:
            print("LOADED")
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "REFUSED" in proc.stdout and "GiB at once, over the limit" in proc.stdout, \
        proc.stdout + proc.stderr[-2000:]


def test_huge_pad_cli_says_one_line(tmp_path):
    from PIL import Image

    path = _pad_model(tmp_path, True)
    image = tmp_path / "in.png"
    Image.new("RGB", (20, 16), (90, 120, 30)).save(image)
    line = _one_line_error(_cli(tmp_path, "upscale", str(image), "-n", str(path), "-o",
                                str(tmp_path / "out")), path)
    assert "over the limit" in line


def test_memory_limit_setting(monkeypatch):
    monkeypatch.delenv("SRONNX_MODEL_MEMORY", raising=False)
    assert model_memory_limit() == 4 << 30
    for text, value in (("512M", 512 << 20), ("1.5g", 3 << 29), ("0", 0), ("1000", 1000)):
        monkeypatch.setenv("SRONNX_MODEL_MEMORY", text)
        assert model_memory_limit() == value
    for bad in ("lots", "inf", "nan", "-1", "-2G"):  # -1 once meant "no limit" silently
        monkeypatch.setenv("SRONNX_MODEL_MEMORY", bad)
        with pytest.raises(ValueError, match="SRONNX_MODEL_MEMORY"):
            model_memory_limit()
    monkeypatch.delenv("SRONNX_MODEL_MEMORY")
    exc = RuntimeError("bfc_arena.cc:360 Available memory of 1073741568 is smaller than "
                       "requested bytes of 19373184000")
    assert re.search(r"asks for 18\.0 GiB at once", memory_refusal(exc))
    assert memory_refusal(RuntimeError("something else")) is None


# fuzz_models: a symbolic dim name that is not UTF-8 (ORT decodes it only when asked)

def test_non_utf8_dim_is_a_model_file_error():
    with pytest.raises(ModelFileError, match="not UTF-8"):
        load_model(REGRESSIONS / "model-dim-not-utf8.onnx")


# fuzz_images: a GIF whose first frame reaches far beyond its 8x6 screen had Pillow allocate
# a canvas of the frame's extent (2.7 GB) while opening, before any size check

def test_gif_canvas_bomb_is_refused_before_allocating(tmp_path):
    path = REGRESSIONS / "gif-frame-beyond-screen.gif"
    proc = _limited(f"""
        from sronnx.io.animation import read_animation
        from sronnx.io.images import ImageReadError, read_image
        from sronnx.engine.planner import image_header
        assert image_header({str(path)!r}) is None  # the CLI's planning reads headers first
        assert read_animation({str(path)!r}) is None
        try:
            read_image({str(path)!r})
        except ImageReadError as exc:
            print("REFUSED", exc)
        # the peak of this process's own memory (ru_maxrss would carry pytest's over exec)
        hwm = [x for x in open("/proc/self/status") if x.startswith("VmHWM")][0]
        print("RSS", int(hwm.split()[1]) >> 10)
    """, tmp_path, memory_gb=6)
    assert "REFUSED over the pixel limit" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert int(proc.stdout.split("RSS")[1]) < 1000


def test_gif_canvas_bomb_in_process():
    with pytest.raises(ImageReadError, match="pixel limit"):
        read_image(REGRESSIONS / "gif-frame-beyond-screen.gif")


# fuzz_images: a GIF frame beyond the logical screen gave frames of differing shapes

def test_gif_frame_beyond_canvas_is_cropped():
    anim = read_animation(REGRESSIONS / "gif-frame-beyond-canvas.gif")
    assert anim is not None and len(anim.frames) == 2
    assert {f.shape[:2] for f in anim.frames} == {(6, 8)}
    assert any("beyond" in note for note in anim.notes)


# fuzz_roundtrip: a descriptor of a huge fixed size and batch made the load's trial run
# allocate hundreds of MB; the trial run now stays small

def test_trial_run_stays_small_for_huge_fixed_models(tmp_path):
    pytest.importorskip("onnx")
    from sronnx.core.descriptor import ModelDescriptor
    from sronnx.export.onnx import write_model
    from tests.fuzz.fuzz_roundtrip import _proto

    d = ModelDescriptor("fuzz", 2, size_requirement="fixed", fixed_size=(573, 3728), batch=15)
    path = write_model(_proto(2), tmp_path / "fixed.onnx", card={"spec": "x"}, descriptor=d)
    proc = _limited(f"""
        from sronnx.runtime.session import load_model
        m = load_model({str(path)!r})
        print("FIXED", m.info.descriptor.fixed_size, m.info.descriptor.batch)
    """, tmp_path, memory_gb=1.5)
    assert "FIXED (573, 3728) 15" in proc.stdout, proc.stdout + proc.stderr[-2000:]


def test_every_regression_input_passes_its_target():
    from tests.fuzz import fuzz_images, fuzz_models

    for path in sorted(REGRESSIONS.iterdir()):
        target = fuzz_models if path.suffix == ".onnx" else fuzz_images
        target.check(path.read_bytes())


# fuzz_models: metadata whose descriptor had tile_multiple 0 loaded, then the upscale raised
# a bare ValueError from the tiler; the descriptor now checks every number it is given

def test_descriptor_numbers_are_checked_at_load():
    with pytest.raises(ModelFileError, match="tile_multiple must be >= 1"):
        load_model(REGRESSIONS / "model-tile-multiple-0.onnx")


@pytest.mark.parametrize("field, value", [("tile_multiple", 0), ("tile_hint", -1),
                                          ("receptive_field", 0), ("scale", 2.5),
                                          ("batch", "1"), ("fixed_size", (0, 4))])
def test_descriptor_refuses_bad_numbers(field, value):
    from sronnx.core.descriptor import ModelDescriptor

    extra = {"size_requirement": "fixed"} if field == "fixed_size" else {}
    with pytest.raises(ValueError):
        ModelDescriptor(**{"arch": "x", "scale": 2, field: value, **extra})


# fuzz_images: a GIF whose second frame reaches far beyond its 8x6 screen grew the canvas to
# 145 megapixels when sought, and decoding it took 2.4 GB; seeks now keep the frames' share
# of the pixel limit

def test_gif_later_frame_canvas_bomb_is_refused(tmp_path):
    path = REGRESSIONS / "gif-later-frame-beyond-screen.gif"
    proc = _limited(f"""
        from sronnx.io.animation import read_animation
        from sronnx.io.images import ImageReadError
        try:
            read_animation({str(path)!r})
        except ImageReadError as exc:
            print("REFUSED", exc)
        # the peak of this process's own memory (ru_maxrss would carry pytest's over exec)
        hwm = [x for x in open("/proc/self/status") if x.startswith("VmHWM")][0]
        print("RSS", int(hwm.split()[1]) >> 10)
    """, tmp_path, memory_gb=6)
    assert "REFUSED frame 2 of 2: over the pixel limit" in proc.stdout, \
        proc.stdout + proc.stderr[-2000:]
    assert int(proc.stdout.split("RSS")[1]) < 400


# fuzz_images: a TIFF whose strip byte count reaches far beyond the file made tifffile
# allocate that count before reading (MemoryError under the fuzzer's limit)

def test_tiff_strip_beyond_file_is_an_image_read_error():
    with pytest.raises(ImageReadError, match="truncated or corrupt TIFF"):
        read_image(REGRESSIONS / "tiff-strip-beyond-file.tif")


# fuzz_images (after the harness's own leak was fixed): a TIFF whose orientation tag held
# three values ended read_image with a bare TypeError; past it, the file's 0 rows reached
# the planner and the upscaler (`ValueError: empty image 8x0`, a traceback from the CLI)

def test_tiff_orientation_of_three_values_then_empty_image(tmp_path):
    path = REGRESSIONS / "tiff-orientation-three-values.tif"
    with pytest.raises(ImageReadError, match=r"empty image \(8x0 pixels\)"):
        read_image(path)
    assert image_header(path) is None
    proc = _cli(tmp_path, "upscale", str(path), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"failed: .*tiff-orientation-three-values\.tif: .*empty image", proc.stderr)


def _tiff16(path: Path, extratags: list) -> np.ndarray:
    import tifffile

    rng = np.random.default_rng(5)
    arr = rng.integers(0, 65536, (3, 4, 3), dtype=np.uint16)
    tifffile.imwrite(path, arr, photometric="rgb", extratags=extratags)
    return arr


def test_tiff_orientation_tags_that_are_not_one_value(tmp_path):
    path = tmp_path / "three.tif"
    arr = _tiff16(path, [(274, "H", 3, (6, 6, 6), True)])
    decoded = read_image(path)
    assert np.array_equal(decoded.pixels, arr)  # as stored: not turned
    assert any("orientation tag (6, 6, 6) is not one of 1..8" in n for n in decoded.notes)
    one = tmp_path / "one.tif"
    arr = _tiff16(one, [(274, "H", 1, 6, True)])
    assert np.array_equal(read_image(one).pixels, np.rot90(arr, -1))  # a real 6 still turns


def test_tiff_icc_tag_of_numbers_allocates_nothing(tmp_path):
    # tag 34675 declared as one LONG: bytes(value) would have made 2 GB of zeros
    path = tmp_path / "icc.tif"
    arr = _tiff16(path, [(34675, "I", 1, 2_000_000_000, True)])
    decoded = read_image(path)
    assert np.array_equal(decoded.pixels, arr)
    assert decoded.icc_profile is None
    assert any("ICC profile tag holds no bytes" in n for n in decoded.notes)


# ---- found by a review trying hostile files by hand (after the campaigns) -----------------

def test_a_load_time_run_that_never_ends_is_refused(tmp_path):
    # a Loop whose condition stays true: every command hung at load, deaf to Ctrl-C and
    # SIGTERM; the probe (a model made elsewhere) and the trial run (an sronnx file) are now
    # stopped after LOAD_RUN_SECONDS (60 s; 2 s here)
    proc = _limited("""
        import time
        from sronnx.core.card import ModelFileError
        from sronnx.runtime import probe
        from sronnx.runtime.session import load_model
        probe.LOAD_RUN_SECONDS = 2.0
        for name in ("model-loop-forever.onnx", "model-loop-forever-sronnx.onnx"):
            start = time.monotonic()
            try:
                load_model("tests/fuzz/regressions/" + name)
                print("LOADED", name)
            except ModelFileError as exc:
                print("REFUSED", round(time.monotonic() - start), exc)
    """, tmp_path)
    lines = [x for x in proc.stdout.splitlines() if x.startswith(("REFUSED", "LOADED"))]
    assert len(lines) == 2, proc.stdout + proc.stderr[-2000:]
    for line in lines:
        assert re.match(r"REFUSED [2-9] .*model-loop-forever.*: refused: a run on a small "
                        r"input \(1x3x\d+x\d+\) did not finish in 2 s", line), line


@pytest.mark.parametrize("name,reason", [
    ("model-metadata-x2-graph-x1.5.onnx", r"refused: model returned \(1, 3, 24, 24\)"),
    ("model-nan-output-sronnx.onnx", "refused: it returns NaN or infinite values"),
    ("model-minimum-100000.onnx", "minimum=100000.*at most 8192"),
    ("model-fixed-2e31.onnx", "fixed input size of 2147483648x2147483648 is over the limit"),
    ("model-external-data-missing.onnx", "its external data file is missing"),
    ("model-external-offset-huge.onnx", "its external data does not match its file"),
])
def test_models_whose_metadata_or_data_lie_are_refused_at_load(name, reason):
    # these loaded (or were refused for the wrong reason) and failed every image, or padded
    # images to 5.5 GB outside ONNX Runtime's memory cap, or (bench) ended in a traceback
    with pytest.raises(ModelFileError, match=reason):
        load_model(REGRESSIONS / name)


def test_refusals_print_one_line_without_onnxruntime_noise(tmp_path):
    for name in ("model-external-offset-huge.onnx", "model-metadata-x2-graph-x1.5.onnx"):
        proc = _cli(tmp_path, "info", str(REGRESSIONS / name))
        assert proc.returncode == 2
        line = _one_line_error(proc, REGRESSIONS / name)
        assert "[E:onnxruntime" not in proc.stderr and "\x1b[" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "/onnxruntime_src/" not in line


@pytest.mark.parametrize("key", ["sronnx.descriptor", "sronnx.card"])
def test_metadata_nested_too_deep_is_a_model_file_error(tmp_path, key):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(SHIPPED / "rsp-x2.onnx"))
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelFileError, match="deep.onnx"):
        load_model(path)
    proc = _cli(tmp_path, "info", str(path))
    assert proc.returncode == 2 and "RecursionError" not in proc.stderr, proc.stderr[-2000:]


def test_descriptor_bounds():
    from sronnx.core.descriptor import ModelDescriptor, SizeRequirements

    ModelDescriptor("x", 4, size_requirement="fixed", fixed_size=(1024, 1024))  # real ones
    with pytest.raises(ValueError, match="scale 64 is over the limit"):
        ModelDescriptor("x", 64)
    for kwargs in ({"batch": 100_000}, {"receptive_field": 1 << 20},
                   {"size": SizeRequirements(minimum=5000)},  # 5000 x 5000 x 16: 400 MP a run
                   {"tile_hint": 1 << 20}, {"tile_multiple": 4096}):
        with pytest.raises(ValueError, match="limit|at most"):
            ModelDescriptor("x", 4, **kwargs)


def test_bad_memory_setting_is_not_blamed_on_the_model(tmp_path):
    proc = _cli(tmp_path, "info", "rsp-x2")
    assert proc.returncode == 0, proc.stderr
    env_proc = subprocess.run([sys.executable, "-m", "sronnx", "info", "rsp-x2"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT),
                                   "SRONNX_MODEL_MEMORY": "abc"})
    assert env_proc.returncode == 2, env_proc.stderr
    assert "SRONNX_MODEL_MEMORY='abc': not a size" in env_proc.stderr
    assert "rsp-x2" not in env_proc.stderr and "Traceback" not in env_proc.stderr
