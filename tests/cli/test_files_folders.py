"""File names and folders (issue 11, part 5): long names, per-file failures, in-place reruns,
`-o FILE`, what folder listings leave out, and the report of a run stopped with Ctrl-C.

Everything runs on the real file system of the temporary folder and real onnxruntime, with a
tiny untrained model (exact bicubic) and small synthetic images.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from helpers import CLI, ROOT, RSP, cli
from PIL import Image

from sronnx.engine import batch
from sronnx.engine.batch import Layout, run_jobs
from sronnx.engine.planner import (
    BROKEN_LINK,
    EARLIER_OUTPUT,
    GIVEN_TWICE,
    INSIDE_OUTPUT,
    LINKED_FOLDER,
    NOT_AN_IMAGE,
    NOT_REGULAR,
    OUTPUT_FOLDER,
    SAME_FILE,
    SUB_FOLDER,
    Job,
    OutputOptions,
    PlanError,
    plan,
    plan_jobs,
)
from sronnx.engine.upscaler import Upscaler
from sronnx.io.images import (
    IMAGE_EXTENSIONS,
    PART_SUFFIX,
    name_bytes,
    name_max,
    part_path,
    remove_stale_parts,
)


def run(model: Path, *args: object) -> Result:
    r = cli(*args, "--model", model, "--provider", "cpu")
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r


def image(path: Path, h: int = 12, w: int = 16, seed: int = 0) -> Path:
    """A small noisy RGB image, in the format the extension names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def long_name(total_bytes: int, ext: str = ".png", char: str = "L") -> str:
    """A file name of exactly `total_bytes` bytes (file-system encoding)."""
    per = name_bytes(char)
    n = (total_bytes - name_bytes(ext)) // per
    name = char * n + "x" * (total_bytes - name_bytes(ext) - n * per) + ext
    assert name_bytes(name) == total_bytes
    return name


# ---- temporary names ---------------------------------------------------------------------


def test_part_names_fit_wherever_the_final_name_fits(tmp_path: Path) -> None:
    limit = name_max(tmp_path)
    assert limit >= 100
    names = ["a.png", long_name(limit - 20), long_name(limit), long_name(limit - 1, ".jpg"),
             long_name(limit, ".png", "é"), long_name(limit - 1, ".png", "日")]
    parts = []
    for name in names:
        final = tmp_path / name
        part = part_path(final)
        assert part.parent == tmp_path and part.name.startswith(".")
        assert part.name.endswith(f".{os.getpid()}{PART_SUFFIX}")
        assert name_bytes(part.name) <= limit, name
        part.write_bytes(b"x")  # the real file system takes it
        os.replace(part, final)  # and renames it into place
        parts.append(part.name)
    assert parts[0] == f".a.png.{os.getpid()}{PART_SUFFIX}"  # short names keep the plain form
    # long names that share a beginning still get different parts
    a, b = long_name(limit - 4, ".png") , long_name(limit - 4, ".jpg")
    assert part_path(tmp_path / a) != part_path(tmp_path / b)
    assert part_path(tmp_path / "sub-not-made" / a).name == part_path(tmp_path / a).name


def test_stale_shortened_parts_are_removed_and_live_ones_spared(tmp_path: Path) -> None:
    long = tmp_path / long_name(name_max(tmp_path))
    code = ("import sys; from pathlib import Path; from sronnx.io.images import part_path;"
            f"print(part_path(Path({str(long)!r})), flush=True); sys.stdin.read()")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    live = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    dead = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        live_part = Path(live.stdout.readline().strip())
        dead_part = Path(dead.communicate("", timeout=60)[0].strip())
        assert dead.returncode == 0
        assert "~" in live_part.name and "~" in dead_part.name  # the shortened form
        for p in (live_part, dead_part):
            p.write_bytes(b"half")
        assert remove_stale_parts(tmp_path) == [dead_part]
        assert live_part.exists() and not dead_part.exists()
    finally:
        live.communicate("", timeout=60)


# ---- one file's failure stays that file's ------------------------------------------------


def test_long_names_work_and_a_too_long_output_fails_alone(model: Path,
                                                           tmp_path: Path) -> None:
    limit = name_max(tmp_path)
    src = tmp_path / "in"
    big = image(src / long_name(limit - 1))  # a legal name: 254 bytes on ext4
    image(src / "a.png", seed=1)
    image(src / "nested" / long_name(limit - 1, ".jpg"), seed=2)
    r = run(model, src, "-o", tmp_path / "out", "--recursive")
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "out" / big.name).size == (32, 24)
    for extra in ([], ["--no-pipeline"], ["--workers", "2"]):
        out, report = tmp_path / f"sfx{len(extra)}", tmp_path / f"r{len(extra)}.json"
        r = run(model, src, "-o", out, "--recursive", "--suffix", "_x2", "--json", report,
                *extra)
        assert r.exit_code == 1, r.output
        failed = [ln for ln in r.output.splitlines() if ln.startswith("failed: ")]
        assert len(failed) == 2 and all("output name too long" in ln for ln in failed)
        assert "1 done, 2 failed, 0 skipped" in r.output
        rep = json.loads(report.read_text())
        assert (rep["done"], rep["failed"], rep["not_processed"]) == (1, 2, 0)
        assert {Path(f["input"]).name: f["status"] for f in rep["files"]}["a.png"] == "done"
        assert sorted(p.name for p in out.rglob("*")) == ["a_x2.png"]


def test_an_output_folder_in_the_way_fails_that_file_only(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    image(src / "a.png")
    image(src / "sub" / "b.png", seed=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("a file where the output folder would be")
    report = tmp_path / "r.json"
    r = run(model, src, "-o", out, "--recursive", "--json", report)
    assert r.exit_code == 1, r.output
    (line,) = [ln for ln in r.output.splitlines() if ln.startswith("failed: ")]
    assert line == (f"failed: {src / 'sub' / 'b.png'}: cannot create the output folder "
                    f"{out / 'sub'}: a file of that name exists")
    assert (out / "a.png").is_file()
    assert json.loads(report.read_text())["failed"] == 1
    # deeper: the file is above the output's folder
    image(src / "sub" / "deeper" / "c.png", seed=2)
    r = run(model, src, "-o", out, "--recursive", "--skip-existing")
    assert r.exit_code == 1, r.output
    assert (f"failed: {src / 'sub' / 'deeper' / 'c.png'}: cannot create the output folder "
            f"{out / 'sub' / 'deeper'}: {out / 'sub'} exists and is not a folder") in r.output
    # the same reason where the writer makes the folder (a file that appeared after the check)
    with pytest.raises(OSError) as err:
        batch._make_output_folder(out / "sub" / "deeper")
    assert str(err.value) == (f"cannot create the output folder {out / 'sub' / 'deeper'}: "
                              f"{out / 'sub'} exists and is not a folder")


def test_run_jobs_never_raises_for_one_file(model: Path, tmp_path: Path) -> None:
    """Library level: output checks that raise OSError (a name too long for the folder) end
    as that file's result in every engine, and the others are done."""
    up = Upscaler(model, "cpu")
    src = tmp_path / "in"
    for i in range(3):
        image(src / f"{i}.png", seed=i)
    opts = OutputOptions()
    for pipeline, workers in ((False, 1), (True, 1), (True, 2)):
        out = tmp_path / f"out_{pipeline}_{workers}"
        jobs = plan_jobs([src], out, opts)
        too_long = out / ("x" * (name_max(tmp_path) + 1) + ".png")
        jobs[1] = Job(jobs[1].source, too_long)
        results = run_jobs(up, jobs, opts, layout=Layout(pipeline=pipeline, workers=workers))
        assert [r.status for r in results] == ["done", "failed", "done"]
        assert "too long" in results[1].error


# ---- reruns in place ------------------------------------------------------------------


def test_rerun_in_place_resumes_and_names_the_right_files(model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "F"
    a = image(folder / "a.png")
    image(folder / "b.jpg", seed=1)
    before = a.read_bytes()
    r = run(model, folder, "-o", folder, "--suffix", "_x2")
    assert r.exit_code == 0 and "2 done" in r.output, r.output
    (folder / "b_x2.jpg").unlink()  # as if the first run had stopped after a.png
    report = tmp_path / "r.json"
    r = run(model, folder, "-o", folder, "--suffix", "_x2", "--skip-existing", "--json", report)
    assert r.exit_code == 0, r.output
    assert "1 done, 0 failed, 1 skipped" in r.output
    assert f"{folder / 'a_x2.png'} ({EARLIER_OUTPUT} of a.png)" in r.output
    rep = json.loads(report.read_text())
    assert rep["left_out"] == [{"path": str(folder / "a_x2.png"),
                                "reason": f"{EARLIER_OUTPUT} of a.png"}]
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "a_x2.png", "b.jpg",
                                                        "b_x2.jpg"]
    r = run(model, folder, "-o", folder, "--suffix", "_x2")
    assert r.exit_code == 2 and "2 outputs already exist" in r.output  # refused up front
    r = run(model, folder, "-o", folder, "--suffix", "_x2", "--overwrite")
    assert r.exit_code == 0 and "2 done" in r.output
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "a_x2.png", "b.jpg",
                                                        "b_x2.jpg"]
    assert a.read_bytes() == before
    # named by the user, a file is an input: overwriting it is refused, with the right names
    r = run(model, a, folder / "a_x2.png", "-o", folder, "--suffix", "_x2", "--overwrite")
    assert r.exit_code == 2
    assert (f"output {folder / 'a_x2.png'} (made from {a}) would overwrite the input "
            f"{folder / 'a_x2.png'}") in r.output


# ---- -o FILE ----------------------------------------------------------------------------


def test_one_input_to_a_named_output_file(model: Path, tmp_path: Path) -> None:
    a = image(tmp_path / "a.png")
    before = a.read_bytes()
    out = tmp_path / "new" / "big.jpg"
    r = run(model, a, "-o", out)
    assert r.exit_code == 0, r.output
    with Image.open(out) as im:
        assert (im.format, im.size) == ("JPEG", (32, 24))
    assert [p.name for p in out.parent.iterdir()] == ["big.jpg"]
    assert run(model, a, "-o", out).exit_code == 2  # exists: refused up front, not replaced
    r = run(model, a, "-o", out, "--skip-existing")
    assert r.exit_code == 0 and "1 skipped" in r.output
    r = run(model, a, "-o", tmp_path / "b.jpeg", "--format", "jpg", "--suffix", "_x2")
    assert r.exit_code == 0 and (tmp_path / "b.jpeg").is_file()  # a name in full: no suffix
    r = run(model, a, "-o", tmp_path / "c.webp", "--format", "png")
    assert r.exit_code == 2 and "contradicts" in r.output and "c.webp" in r.output
    r = run(model, a, image(tmp_path / "b.png"), "-o", tmp_path / "two.png")
    assert r.exit_code == 2 and "must be a folder" in r.output
    r = run(model, tmp_path / "new", "-o", tmp_path / "dir.png")
    assert r.exit_code == 2 and "must be a folder" in r.output
    assert not (tmp_path / "two.png").exists() and not (tmp_path / "dir.png").exists()
    os.link(a, tmp_path / "hard.png")
    for target in (a, tmp_path / "." / "a.png", tmp_path / "hard.png"):
        r = run(model, a, "-o", target, "--overwrite")
        assert r.exit_code == 2 and "would overwrite the input" in r.output
    assert a.read_bytes() == before
    (tmp_path / "folder.png").mkdir()  # an existing folder stays a folder
    r = run(model, a, "-o", tmp_path / "folder.png")
    assert r.exit_code == 0 and (tmp_path / "folder.png" / "a.png").is_file()


# ---- what folder listings leave out -----------------------------------------------------


def test_left_out_files_get_one_summary_line_and_the_report(model: Path,
                                                            tmp_path: Path) -> None:
    src = tmp_path / "in"
    image(src / "a.png")
    (src / "notes.txt").write_text("x")
    (src / "README").write_text("x")
    (src / "gone.png").symlink_to(tmp_path / "nowhere.png")
    image(src / "sub" / "b.png", seed=1)
    (src / "linked").symlink_to(src / "sub")
    os.mkfifo(src / "pipe.png")
    image(src / ".hidden.png")  # hidden: passed over silently, as always
    report = tmp_path / "r.json"
    r = run(model, src, "-o", tmp_path / "out", "--json", report)
    assert r.exit_code == 0, r.output
    (line,) = [ln for ln in r.output.splitlines() if ln.startswith("left out")]
    assert line == (
        f"left out 5 file(s): {src / 'README'} ({NOT_AN_IMAGE}), {src / 'gone.png'} "
        f"({BROKEN_LINK}), {src / 'linked'} ({LINKED_FOLDER}), {src / 'notes.txt'} "
        f"({NOT_AN_IMAGE}), {src / 'pipe.png'} ({NOT_REGULAR}); "
        f"1 sub-folder(s) not entered (use --recursive): {src / 'sub'}")
    rep = json.loads(report.read_text())
    assert {Path(e["path"]).name: e["reason"] for e in rep["left_out"]} == {
        "README": NOT_AN_IMAGE, "gone.png": BROKEN_LINK, "linked": LINKED_FOLDER,
        "notes.txt": NOT_AN_IMAGE, "pipe.png": NOT_REGULAR, "sub": SUB_FOLDER}
    assert rep["done"] == 1
    r = run(model, src, "-o", tmp_path / "rec", "--recursive", "--quiet")
    assert r.exit_code == 0 and r.output == ""  # --quiet: the report alone has the list
    assert (tmp_path / "rec" / "sub" / "b.png").is_file()
    left = {e.path.name: e.reason for e in plan([src], tmp_path / "rec", OutputOptions(),
                                               recursive=True).left_out}
    assert left == {"README": NOT_AN_IMAGE, "gone.png": BROKEN_LINK,
                    "linked": LINKED_FOLDER, "notes.txt": NOT_AN_IMAGE,
                    "pipe.png": NOT_REGULAR}


def test_a_long_left_out_list_is_cut_on_the_line_not_in_the_report(model: Path,
                                                                   tmp_path: Path) -> None:
    src = tmp_path / "in"
    image(src / "a.png")
    for i in range(9):
        (src / f"n{i}.txt").write_text("x")
    for i in range(3):
        (src / f"g{i}.png").symlink_to(tmp_path / "nowhere.png")
    report = tmp_path / "r.json"
    r = run(model, src, "-o", tmp_path / "out", "--json", report)
    (line,) = [ln for ln in r.output.splitlines() if ln.startswith("left out")]
    assert line.startswith("left out 12 file(s): ")
    assert line.endswith(f"and 7 more (7 {NOT_AN_IMAGE}) (all in {report})")
    assert len(json.loads(report.read_text())["left_out"]) == 12


def test_left_out_follows_the_collectable_extensions(tmp_path: Path) -> None:
    """Every collectable extension is taken, in any case; anything else is left out. The
    test reads the set itself, so a format added to it later is taken, not left out."""
    for ext in sorted(IMAGE_EXTENSIONS):  # a stem each: read-only kinds all become .png
        (tmp_path / f"f{ext[1:]}{ext.upper()}").write_bytes(b"x")
    for ext in (".gif", ".txt", ".png~", ".heic"):
        (tmp_path / f"g{ext}").write_bytes(b"x")
    p = plan([tmp_path], tmp_path / "out", OutputOptions())
    taken = {j.source.name for j in p.jobs}
    left = {e.path.name for e in p.left_out}
    assert taken == {f"f{e[1:]}{e.upper()}" for e in IMAGE_EXTENSIONS} | \
        {f"g{e}" for e in (".gif", ".txt", ".png~", ".heic") if e in IMAGE_EXTENSIONS}
    assert left == {f"g{e}" for e in (".gif", ".txt", ".png~", ".heic")
                    if e not in IMAGE_EXTENSIONS}
    assert all(e.reason == NOT_AN_IMAGE for e in p.left_out)


def test_nothing_found_says_what_was_left_out(model: Path, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("x")
    r = run(model, tmp_path / "docs", "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert f"left out 1 file(s): {tmp_path / 'docs' / 'notes.txt'} ({NOT_AN_IMAGE})" \
        in r.output
    assert "no input images found" in r.output


# ---- Ctrl-C -----------------------------------------------------------------------------


COUNT = 40


def _default_sigint() -> None:
    """In the child before it starts: SIGINT to its default, so that Python installs its
    Ctrl-C handler (a shell's `cmd &` starts background jobs with SIGINT ignored, which the
    child would inherit: then no signal could stop it, and this test saw every file done)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("engine", [["--workers", "2"], ["--workers", "1"], ["--no-pipeline"]])
def test_ctrl_c_writes_the_report_of_what_was_done(model: Path, tmp_path: Path,
                                                   engine: list[str]) -> None:
    src = tmp_path / "in"
    for i in range(COUNT):
        image(src / f"{i:02}.png", 300, 300, seed=i)
    out, report = tmp_path / "out", tmp_path / "r.json"
    proc = subprocess.Popen([*CLI, "upscale", str(src), "-o", str(out), "--model", str(model),
                             "--provider", "cpu", "--json", str(report), "--quiet", *engine],
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    t0 = time.monotonic()
    while not (out.is_dir() and any(p.suffix == ".png" for p in out.iterdir())):
        assert time.monotonic() - t0 < 120 and proc.poll() is None, "no output came"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "error: interrupted" in err
    rep = json.loads(report.read_text())
    assert rep["stopped"] == "interrupted"
    assert 1 <= rep["done"] < COUNT and rep["done"] + rep["not_processed"] == COUNT
    on_disk = sorted(p.name for p in out.iterdir())
    assert on_disk == sorted(Path(f["output"]).name for f in rep["files"]
                             if f["status"] == "done")  # no part file, none unreported
    r = subprocess.run([*CLI, "upscale", str(src), "-o", str(out), "--model", str(model),
                        "--provider", "cpu", "--skip-existing", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and len(list(out.iterdir())) == COUNT


# ---- what counts as an earlier output ------------------------------------------------------


def digests(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_genuine_lookalikes_are_refused_and_left_untouched(model: Path, tmp_path: Path) -> None:
    """A file whose name is a planned output but whose size is not a whole multiple of its
    would-be source is a file of its own: refused (exit 2) with --overwrite too, never
    replaced, never taken as an earlier output."""
    g = tmp_path / "G"
    image(g / "b.png", 20, 30)
    Image.fromarray(np.full((50, 50, 3), (10, 200, 10), np.uint8)).save(g / "b.webp",
                                                                      lossless=True)
    image(g / "c.png", 20, 30, seed=1)
    Image.fromarray(np.full((44, 44, 3), (200, 10, 10), np.uint8)).save(g / "c_x2.png")
    before = digests(g)
    report = tmp_path / "r.json"
    for args, out, src, why in (
            (["--format", "webp"], "b.webp", "b.png", "50x50 is no multiple of b.png's 30x20"),
            (["--suffix", "_x2"], "c_x2.png", "c.png", "44x44 is no multiple of c.png's 30x20")):
        for existing in ("--overwrite", "--skip-existing"):
            r = run(model, g, "-o", g, *args, existing, "--json", report)
            assert r.exit_code == 2, r.output
            message = (f"output {g / out} (made from {g / src}) would overwrite the input "
                       f"{g / out} (a file of its own, not an earlier output of {src}: {why}); "
                       "choose another output folder or a --suffix")
            assert r.output == f"error: {message}\n"
            rep = json.loads(report.read_text())
            assert (rep["error"], rep["exit_code"], rep["files"]) == (message, 2, [])
    assert digests(g) == before
    # twice the size in one dimension only, or an unreadable file: not an earlier output
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(g / "c_x2.png")
    r = run(model, g, "-o", g, "--suffix", "_x2", "--overwrite")
    assert r.exit_code == 2 and "30x40 is no multiple of c.png's 30x20" in r.output
    (g / "c_x2.png").write_bytes(b"not an image")
    r = run(model, g, "-o", g, "--suffix", "_x2", "--overwrite")
    assert r.exit_code == 2 and "(a file of its own, not an earlier output of c.png: it " \
        "cannot be read as an image)" in r.output
    assert (g / "c_x2.png").read_bytes() == b"not an image"
    with pytest.raises(PlanError, match="would overwrite the input"):
        plan([g], g, OutputOptions(suffix="_x2"))


def test_earlier_outputs_are_recognised_by_size(model: Path, exported_models,
                                                tmp_path: Path) -> None:
    """A real earlier output (k times its source, EXIF orientation applied) still resumes;
    with a model of another scale it is not this run's output: refused, untouched."""
    f = tmp_path / "F"
    image(f / "a.png", 20, 30)
    rotated = Image.fromarray(np.random.default_rng(3).integers(0, 256, (12, 16, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 16x12, shown 12x16
    rotated.save(f / "r.jpg", exif=exif)
    r = run(model, f, "-o", f, "--suffix", "_x2")
    assert r.exit_code == 0 and "2 done" in r.output, r.output
    assert Image.open(f / "r_x2.jpg").size == (24, 32)
    before = digests(f)
    r = run(model, f, "-o", f, "--suffix", "_x2", "--skip-existing")
    assert r.exit_code == 0 and "0 done, 0 failed, 2 skipped" in r.output, r.output
    assert f"{f / 'r_x2.jpg'} ({EARLIER_OUTPUT} of r.jpg)" in r.output
    r = run(model, f, "-o", f, "--suffix", "_x2", "--overwrite")
    assert r.exit_code == 0 and "2 done" in r.output, r.output
    p = plan([f], f, OutputOptions(suffix="_x2"))
    assert [j.source.name for j in p.jobs] == ["a.png", "r.jpg"]
    assert [(e.path.name, e.factor) for e in p.left_out] == [("a_x2.png", 2), ("r_x2.jpg", 2)]
    p.require_scale(2)
    with pytest.raises(PlanError, match="it is 2 times the size of a.png, and this model "
                                        "makes 3 times"):
        p.require_scale(3)
    with pytest.raises(PlanError, match="makes 4 times"):
        plan([f], f, OutputOptions(suffix="_x2"), scale=4)
    before = digests(f)
    report = tmp_path / "r.json"
    r = run(exported_models(RSP, 3), f, "-o", f, "--suffix", "_x2", "--overwrite",
            "--json", report)
    assert r.exit_code == 2, r.output
    assert r.output == (  # both refused at once
        "error: 2 outputs would overwrite inputs (choose another output folder or a --suffix):"
        f"\n  output {f / 'a_x2.png'} (made from {f / 'a.png'}) would overwrite the input "
        f"{f / 'a_x2.png'} (a file of its own, not an earlier output of a.png: it is 2 times "
        "the size of a.png, and this model makes 3 times)"
        f"\n  output {f / 'r_x2.jpg'} (made from {f / 'r.jpg'}) would overwrite the input "
        f"{f / 'r_x2.jpg'} (a file of its own, not an earlier output of r.jpg: it is 2 times "
        "the size of r.jpg, and this model makes 3 times)\n")
    assert digests(f) == before
    rep = json.loads(report.read_text())
    assert rep["scale"] == 3 and rep["exit_code"] == 2 and rep["files"] == []
    assert [Path(e["path"]).name for e in rep["left_out"]] == ["a_x2.png", "r_x2.jpg"]


# ---- --suffix ---------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "why"), [
    ("/../../in2/z", "contains a path separator"), ("sub/x", "contains a path separator"),
    ("\n", "contains a control character ('\\n')"),
    ("a\x7fb", "contains a control character ('\\x7f')"),
    ("\x1b[31m", "contains a control character ('\\x1b')"),
    (".", "is not a usable part of a file name"), ("..", "is not a usable part of a file name")])
def test_unusable_suffixes_are_refused(model: Path, tmp_path: Path, suffix: str,
                                       why: str) -> None:
    src = tmp_path / "in2"
    image(src / "a.png")
    z = image(src / "z.png", seed=1)
    before = z.read_bytes()
    r = run(model, src, "-o", tmp_path / "out9", "--suffix", suffix, "--overwrite")
    assert r.exit_code == 2
    assert r.output == f"error: --suffix {ascii(suffix)} {why}" + (
        ": it is appended to file names and cannot name a folder\n" if "separator" in why
        else "\n")
    assert z.read_bytes() == before and sorted(p.name for p in src.iterdir()) == \
        ["a.png", "z.png"]
    assert not (tmp_path / "out9").exists()
    with pytest.raises(PlanError, match="--suffix"):
        plan([src], tmp_path / "out9", OutputOptions(suffix=suffix))


def test_usable_suffixes_still_work(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    image(src / "a.png")
    for suffix in ("_x2", " (big)", "..x", "-é"):
        r = run(model, src, "-o", tmp_path / "out", "--suffix", suffix)
        assert r.exit_code == 0, r.output
        assert (tmp_path / "out" / f"a{suffix}.png").is_file()


# ---- the report at every exit -------------------------------------------------------------


def test_runs_that_cannot_start_still_write_the_report(model: Path, tmp_path: Path) -> None:
    report = tmp_path / "rep" / "r.json"

    def refused(*args: object) -> dict:
        r = run(model, *args, "--json", report)
        assert r.exit_code == 2, r.output
        rep = json.loads(report.read_text())
        assert r.output.splitlines()[-1].lower() == f"error: {rep['error']}".lower()
        assert (rep["exit_code"], rep["files"], rep["done"]) == (2, [], 0)
        report.unlink()
        return rep

    docs = tmp_path / "docs"
    (docs).mkdir()
    (docs / "a.txt").write_text("x")
    rep = refused(docs, "-o", tmp_path / "o3")
    assert rep["error"] == f"no input images found in {docs}"
    assert rep["left_out"] == [{"path": str(docs / "a.txt"), "reason": NOT_AN_IMAGE}]
    two = tmp_path / "two"
    image(two / "a.png")
    image(two / "a.jpg", seed=1)
    (two / "n.txt").write_text("x")
    rep = refused(two, "-o", tmp_path / "o4", "--format", "png")
    assert "would both be written to" in rep["error"]
    assert [Path(e["path"]).name for e in rep["left_out"]] == ["n.txt"]
    (tmp_path / "file").write_text("x")
    rep = refused(two, "-o", tmp_path / "file")
    assert rep["error"] == f"output folder {tmp_path / 'file'} exists and is not a folder"
    rep = refused(two, "-o", tmp_path / "o5", "--skip-existing", "--overwrite")
    assert rep["error"] == "--skip-existing and --overwrite exclude each other"
    r = cli(two, "-o", tmp_path / "o5", "--model", tmp_path / "none.onnx", "--json", report)
    assert r.exit_code == 2 and json.loads(report.read_text())["not_processed"] == 2
    assert not any((tmp_path / o).exists() for o in ("o3", "o4", "o5"))
    r = run(model, two / "a.png", "-o", tmp_path / "o6", "--json", report)
    rep = json.loads(report.read_text())
    assert (r.exit_code, rep["exit_code"], rep["error"], rep["done"]) == (0, 0, None, 1)


def test_an_unwritable_report_stops_the_run_before_any_image(model: Path,
                                                             tmp_path: Path) -> None:
    a = image(tmp_path / "in" / "a.png")
    (tmp_path / "blocker").write_text("a file where the report's folder would be")
    for report, why in (
            (tmp_path / "blocker" / "r.json", "cannot create its folder "
             f"{tmp_path / 'blocker'}: a file of that name exists"),
            (tmp_path / "blocker" / "sub" / "r.json", "cannot create its folder "
             f"{tmp_path / 'blocker' / 'sub'}: {tmp_path / 'blocker'} exists and is not a "
             "folder")):
        r = run(model, a, "-o", tmp_path / "out", "--json", report)
        assert r.exit_code == 2
        assert r.output == f"error: cannot write the report {report}: {why}\n"
        assert not (tmp_path / "out").exists()  # nothing was processed
    os.mkfifo(tmp_path / "pipe.json")
    r = run(model, a, "-o", tmp_path / "out", "--json", tmp_path / "pipe.json")
    assert r.exit_code == 2 and "it exists and is not a regular file" in r.output
    assert not (tmp_path / "out").exists()
    # the report may already exist: checked without being changed, then replaced
    old = tmp_path / "old.json"
    old.write_text("{}")
    r = run(model, a, "-o", tmp_path / "out", "--json", old)
    assert r.exit_code == 0 and json.loads(old.read_text())["done"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "in", "old.json", "out",
                                                          "pipe.json"]


# ---- what a named input is, and the --recursive hint ---------------------------------------


def test_a_named_fifo_or_broken_link_says_what_it_is(model: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    r = run(model, tmp_path / "pipe.png", "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert r.output == (f"error: no input images found in {tmp_path / 'pipe.png'}; "
                        f"{NOT_REGULAR} (fifo): {tmp_path / 'pipe.png'}\n")
    a = image(tmp_path / "a.png")
    r = run(model, tmp_path / "pipe.png", tmp_path / "gone.png", a, "-o", tmp_path / "out")
    assert r.exit_code == 1
    assert f"failed: {tmp_path / 'pipe.png'}: {NOT_REGULAR} (fifo)" in r.output
    assert f"failed: {tmp_path / 'gone.png'}: {BROKEN_LINK}" in r.output
    assert (tmp_path / "out" / "a.png").is_file()
    r = run(model, tmp_path / "pipe.png", "-o", tmp_path / "one.png")  # -o FILE
    assert r.exit_code == 2 and r.output.endswith(f"; {NOT_REGULAR} (fifo): "
                                                  f"{tmp_path / 'pipe.png'}\n")


def test_the_recursive_hint_only_where_there_are_sub_folders(model: Path,
                                                             tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "hidden_only" / ".git").mkdir(parents=True)
    for folder in (empty, tmp_path / "hidden_only"):
        r = run(model, folder, "-o", tmp_path / "out")
        assert r.exit_code == 2 and r.output == f"error: no input images found in {folder}\n"
    (tmp_path / "deep" / "sub").mkdir(parents=True)
    r = run(model, tmp_path / "deep", "-o", tmp_path / "out")
    assert r.exit_code == 2
    assert r.output.endswith(f"error: no input images found in {tmp_path / 'deep'} "
                             "(use --recursive for sub-folders)\n")


# ---- an output folder inside an input folder ------------------------------------------------


def left_out_of(report: Path) -> dict[str, str]:
    return {e["path"]: e["reason"] for e in json.loads(report.read_text())["left_out"]}


def test_an_output_folder_inside_the_input_names_every_file_it_passes_over(
        model: Path, exported_models, tmp_path: Path) -> None:
    """With --recursive, the listing takes nothing from an output folder inside the input
    folder (it would be read again, one level deeper, on every rerun), but it names each
    file there: as an earlier output where it is one by size, else as inside the output
    folder. Without --recursive the output folder itself is named, with no --recursive hint."""
    f = tmp_path / "F"
    a = image(f / "a.png", 20, 30)
    s = image(f / "sub" / "s.png", seed=1)
    (f / "sub" / "notes.txt").write_text("x")
    out, report = f / "sub", tmp_path / "r.json"
    inside = f"{INSIDE_OUTPUT} {out}"
    r = run(model, f, "-o", out, "--recursive", "--json", report)
    assert r.exit_code == 0 and "1 done" in r.output, r.output
    assert [x["input"] for x in json.loads(report.read_text())["files"]] == [str(a)]
    assert left_out_of(report) == {str(f / "sub" / "notes.txt"): NOT_AN_IMAGE,
                                   str(s): inside}
    assert f"left out 2 file(s): {f / 'sub' / 'notes.txt'} ({NOT_AN_IMAGE}), {s} ({inside})" \
        in r.output
    r = run(model, f, "-o", out, "--recursive", "--skip-existing", "--json", report)
    assert r.exit_code == 0 and "0 done, 0 failed, 1 skipped" in r.output, r.output
    assert left_out_of(report) == {str(f / "sub" / "notes.txt"): NOT_AN_IMAGE,
                                   str(out / "a.png"): f"{EARLIER_OUTPUT} of a.png",
                                   str(s): inside}
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "notes.txt", "s.png"]
    # a model of another scale: a.png's output is no earlier output of this run, just a file
    # of the output folder (handled by --skip-existing like any existing output)
    r = run(exported_models(RSP, 3), f, "-o", out, "--recursive", "--skip-existing",
            "--json", report)
    assert r.exit_code == 0 and "1 skipped" in r.output, r.output
    assert left_out_of(report)[str(out / "a.png")] == inside
    r = run(model, f, "-o", out, "--skip-existing", "--json", report)
    assert r.exit_code == 0, r.output
    assert left_out_of(report) == {str(out): OUTPUT_FOLDER}
    assert "--recursive" not in r.output
    p = plan([f], out, OutputOptions(), recursive=True)
    assert [j.source for j in p.jobs] == [a]
    assert {e.path: e.reason for e in p.left_out} == {
        f / "sub" / "notes.txt": NOT_AN_IMAGE, out / "a.png": f"{EARLIER_OUTPUT} of a.png",
        s: inside}
    assert (f / "sub" / "s.png").read_bytes() == s.read_bytes() and not (out / "sub").exists()


# ---- the same file given twice ------------------------------------------------------------


def test_the_same_file_given_twice_is_taken_once(model: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    f = Path("F")
    a = image(f / "a.png")
    s = image(f / "sub" / "s.png", seed=1)
    (f / "l.png").symlink_to("a.png")  # a link beside its target: an entry of its own
    report = tmp_path / "r.json"
    r = run(model, f / "a.png", f / "a.png", "-o", "o1", "--json", report)
    assert r.exit_code == 0 and "1 done" in r.output, r.output
    assert f"left out 1 file(s): {a} ({GIVEN_TWICE})" in r.output
    assert left_out_of(report) == {str(a): GIVEN_TWICE}
    assert sorted(p.name for p in Path("o1").iterdir()) == ["a.png"]
    r = run(model, f, "./F/a.png", tmp_path / "F" / "a.png", "F/", tmp_path / "F",
            "-o", "o2", "--json", report)
    assert r.exit_code == 0 and "2 done" in r.output, r.output  # a.png and l.png
    assert left_out_of(report) == {str(f): GIVEN_TWICE, str(a): GIVEN_TWICE,
                                   str(f / "sub"): SUB_FOLDER}
    # the first mention wins, with its layout: s.png named first lands at the top
    p = plan([s, f, tmp_path / "F" / "sub" / "s.png"], "o3", OutputOptions(), recursive=True)
    assert [(j.source, j.output) for j in p.jobs] == [
        (s, Path("o3/s.png")), (a, Path("o3/a.png")), (f / "l.png", Path("o3/l.png"))]
    # one entry per file, however often it came up again
    assert [(e.path, e.reason) for e in p.left_out] == [(s, GIVEN_TWICE)]
    p = plan([tmp_path / "F" / "a.png", f], "o3", OutputOptions())  # another spelling first
    assert [j.source for j in p.jobs] == [tmp_path / "F" / "a.png", f / "l.png"]
    assert [(e.path, e.reason) for e in p.left_out] == [
        (a, f"{SAME_FILE} {tmp_path / 'F' / 'a.png'}"), (f / "sub", SUB_FOLDER)]
    # genuinely different files on one output are still refused
    b = image(Path("G") / "a.png", seed=2)
    r = run(model, a, b, "-o", "o4")
    assert r.exit_code == 2
    assert r.output == f"error: {b} and {a} would both be written to {Path('o4') / 'a.png'}\n"


# ---- every conflict at once -----------------------------------------------------------------


def test_every_lookalike_is_refused_in_one_message(model: Path, tmp_path: Path) -> None:
    g = tmp_path / "G"
    for name in ("b", "c", "d"):
        image(g / f"{name}.png", 20, 30, seed=ord(name))
    (g / "b_x2.png").write_bytes((g / "b.png").read_bytes())  # a copy: the same size
    Image.fromarray(np.zeros((44, 44, 3), np.uint8)).save(g / "c_x2.png")
    (g / "d_x2.png").write_bytes(b"not an image")
    h = tmp_path / "H"
    image(h / "b.png", seed=9)  # and a different file on b.png's output
    before = digests(g)
    report = tmp_path / "r.json"
    r = run(model, g, h, "-o", g, "--suffix", "_x2", "--overwrite", "--json", report)
    assert r.exit_code == 2

    def lookalike(n: str, why: str) -> str:
        return (f"\n  output {g / f'{n}_x2.png'} (made from {g / f'{n}.png'}) would overwrite "
                f"the input {g / f'{n}_x2.png'} (a file of its own, not an earlier output of "
                f"{n}.png: {why})")

    message = (
        "3 outputs would overwrite inputs (choose another output folder or a --suffix); "
        "1 output would be written twice:"
        + lookalike("b", "it is the same size as b.png (30x20), not an upscale of it")
        + lookalike("c", "44x44 is no multiple of c.png's 30x20")
        + lookalike("d", "it cannot be read as an image")
        + f"\n  {h / 'b.png'} and {g / 'b.png'} would both be written to {g / 'b_x2.png'}")
    assert r.output == f"error: {message}\n"
    rep = json.loads(report.read_text())
    assert (rep["error"], rep["exit_code"], rep["files"]) == (message, 2, [])
    assert digests(g) == before


# ---- SIGTERM --------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", [["--workers", "2"], ["--no-pipeline"]])
def test_sigterm_ends_a_run_as_ctrl_c_does(model: Path, tmp_path: Path,
                                           engine: list[str]) -> None:
    src = tmp_path / "in"
    for i in range(COUNT):
        image(src / f"{i:02}.png", 300, 300, seed=i)
    out, report = tmp_path / "out", tmp_path / "r.json"
    proc = subprocess.Popen([*CLI, "upscale", str(src), "-o", str(out), "--model", str(model),
                             "--provider", "cpu", "--json", str(report), "--quiet", *engine],
                            stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not (out.is_dir() and any(p.suffix == ".png" for p in out.iterdir())):
        assert time.monotonic() - t0 < 120 and proc.poll() is None, "no output came"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGTERM)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "error: terminated;" in err
    rep = json.loads(report.read_text())
    assert (rep["stopped"], rep["exit_code"]) == ("terminated", 143)
    assert 1 <= rep["done"] < COUNT and rep["done"] + rep["not_processed"] == COUNT
    on_disk = sorted(p.name for p in out.iterdir())
    assert on_disk == sorted(Path(f["output"]).name for f in rep["files"]
                             if f["status"] == "done")  # no part file, none unreported


# ---- usage errors write the report too ------------------------------------------------------


def test_usage_errors_write_the_report(tmp_path: Path) -> None:
    a = image(tmp_path / "a.png")
    report = tmp_path / "rep" / "r.json"
    for args, error in (
            (["-o", "o", "--scale", "5"],
             "Invalid value for '--scale': 5 is not in the range 2<=x<=4."),
            (["-o", "o", "--zzz"], "No such option '--zzz'."),
            ([], "Missing option '-o' / '--output'.")):
        for form in (["--json", report], [f"--json={report}"]):
            r = cli(a, *args, *form)
            assert r.exit_code == 2 and "Traceback" not in r.output
            rep = json.loads(report.read_text())
            assert (rep["error"], rep["exit_code"], rep["files"], rep["done"]) == \
                (error, 2, [], 0), r.output
            report.unlink()
    before = a.read_bytes()
    r = cli(a, "-o", tmp_path / "o", "--scale", "5", "--json", a)  # the path is an input
    assert r.exit_code == 2 and a.read_bytes() == before
    assert not (tmp_path / "o").exists()


def test_an_output_folder_made_meanwhile_by_another_worker_is_not_in_the_way(
        tmp_path: Path) -> None:
    """The per-file output check ran while another worker made the same folder: between
    "is it a folder?" (not yet) and "does something exist there?" (now yes) it called the new
    folder a file in the way, and failed a good file (seen in CI, test_pipeline)."""
    import threading

    from sronnx.engine.planner import folder_problem

    wrong: list[str] = []
    for k in range(300):
        folder = tmp_path / f"o{k}" / "sub"
        go = threading.Event()

        def make(target: Path = folder, go: threading.Event = go) -> None:
            go.wait()
            target.mkdir(parents=True, exist_ok=True)

        maker = threading.Thread(target=make)
        maker.start()
        go.set()
        for _ in range(20):
            if (problem := folder_problem(folder)) is not None:
                wrong.append(problem)
        maker.join()
    assert wrong == []
