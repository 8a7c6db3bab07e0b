"""`sronnx upscale` on standard streams: - and -o - (stdin to stdout, with torch blocked
too), closed standard streams refused up front (exit 2, the report still written), a broken
pipe on -o - failing that file (record, summary and exit code agree), and --json - writing
the report to standard output (refused with -o -).

Real images (Set5 and small synthetic ones), the real onnxruntime and the real command: a
subprocess where standard streams matter, click's runner in-process elsewhere. The tiny model
is an untrained export.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from helpers import BLOCK_TORCH, data_dir, errors, photo, save
from helpers import checked_cli as cli
from PIL import Image

PNG_END = b"IEND" + zlib.crc32(b"IEND").to_bytes(4, "big")


def _closed(redirect: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`sronnx upscale ARGS` with a standard stream closed by the shell (`<&-`, `>&-`)."""
    return subprocess.run(["sh", "-c", f'exec "$@" {redirect}', "sh", sys.executable, "-m",
                           "sronnx", "upscale", *args], cwd=cwd, capture_output=True,
                          timeout=300)


def _sronnx(args: list[str], data: bytes, torch_blocked: bool = False
            ) -> subprocess.CompletedProcess:
    head = [sys.executable, "-m", "sronnx"] if not torch_blocked else \
        [sys.executable, "-c", BLOCK_TORCH + "from sronnx.cli import main; main()"]
    return subprocess.run([*head, "upscale", *args], input=data, capture_output=True,
                          timeout=300)


# ---- 1. standard input and output --------------------------------------------------------


def test_stdin_to_stdout(model: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(photo(30, 44)).save(buf, "JPEG", quality=90)
    r = _sronnx(["-", "-o", "-", "--model", str(model), "--provider", "cpu"], buf.getvalue())
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.startswith(b"\x89PNG\r\n\x1a\n") and r.stdout.endswith(PNG_END)
    with Image.open(io.BytesIO(r.stdout)) as im:  # the whole of stdout is one PNG
        assert (im.format, im.size) == ("PNG", (88, 60))
    err = r.stderr.decode()
    assert "done: - -> -" in err and "1 done, 0 failed" in err
    # --format says the format; a named input keeps its own with 'same'
    r = _sronnx(["-", "-o", "-", "--model", str(model), "--format", "webp", "-s", "1.5"],
                buf.getvalue())
    assert r.returncode == 0, r.stderr.decode()
    with Image.open(io.BytesIO(r.stdout)) as im:
        assert (im.format, im.size) == ("WEBP", (66, 45))
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(buf.getvalue())
    r = _sronnx([str(jpg), "-o", "-", "--model", str(model), "--quiet"], b"")
    assert r.returncode == 0 and r.stderr == b""
    with Image.open(io.BytesIO(r.stdout)) as im:
        assert (im.format, im.size) == ("JPEG", (88, 60))
    # standard input into a folder and into a named file
    r = _sronnx(["-", "-o", str(tmp_path / "o"), "--model", str(model)], buf.getvalue())
    assert r.returncode == 0 and r.stdout == b""
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["stdin.png"]
    r = _sronnx(["-", "-o", str(tmp_path / "b.webp"), "--model", str(model)], buf.getvalue())
    assert r.returncode == 0 and Image.open(tmp_path / "b.webp").size == (88, 60)


def test_stdin_and_stdout_problems(model: Path, tmp_path: Path) -> None:
    a = save(tmp_path / "a.png", photo(20, 24))
    r = _sronnx(["-", "-o", "-", "--model", str(model)], b"not an image")
    assert r.returncode == 1 and r.stdout == b""
    assert ("failed: -: cannot read image: a text file: not an image format sronnx reads"
            in r.stderr.decode())
    r = _sronnx(["-", "-o", "-", "--model", str(model)], b"")
    assert r.returncode == 1 and "empty file" in r.stderr.decode()
    for args, why in (([str(a), "-", "-o", "-"], "must be the only input"),
                      ([str(a), str(a), "-o", "-"], "takes exactly one input file"),
                      ([str(tmp_path), "-o", "-"], "takes exactly one input file")):
        r = _sronnx([*args, "--model", str(model)], b"")
        assert r.returncode == 2 and why in r.stderr.decode() and r.stdout == b"", args


def test_stdin_to_stdout_with_torch_blocked(model: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(photo(20, 24)).save(buf, "PNG")
    r = _sronnx(["-", "-o", "-", "--model", str(model)], buf.getvalue(), torch_blocked=True)
    assert r.returncode == 0, r.stderr.decode()
    assert Image.open(io.BytesIO(r.stdout)).size == (48, 40)


# ---- 2. closed standard streams ----------------------------------------------------------


def test_closed_stdin_is_refused_before_any_work(model: Path, tmp_path: Path) -> None:
    r = _closed("<&-", ["-", "-o", "out", "--model", str(model)], tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert errors(err) == ["error: - reads an image from standard input, which is closed: "
                           "pipe or redirect an image into it (sronnx upscale - -o out.png "
                           "< in.jpg)"], err
    assert "Traceback" not in err and "model " not in err  # no model was loaded
    assert not (tmp_path / "out").exists()
    # -o - too, and the report is written
    r = _closed("<&-", ["-", "-o", "-", "--json", "r.json", "--model", str(model)], tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err and r.stdout == b"", err
    assert len(errors(err)) == 1 and "standard input, which is closed" in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exit_code"] == 2 and report["files"] == []
    assert "standard input, which is closed" in report["error"]


def test_closed_stdout_is_refused_before_any_work(model: Path, tmp_path: Path) -> None:
    a = save(tmp_path / "a.png", photo(20, 24))
    r = _closed(">&-", [str(a), "-o", "-", "--json", "r.json", "--model", str(model)],
                tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert errors(err) == ["error: -o - writes the image to standard output, which is closed: "
                           "redirect it (> out.png) or pipe it, or name an output file or "
                           "folder"], err
    assert "Traceback" not in err and "model " not in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exit_code"] == 2 and "which is closed" in report["error"]
    # a report meant for standard output cannot be written either: refused as well
    r = _closed(">&-", [str(a), "-o", "o", "--json", "-", "--model", str(model)], tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err, err
    assert errors(err) == ["error: cannot write the report to standard output: it is closed"]
    assert not (tmp_path / "o").exists()


# ---- 3. a broken pipe on -o - ------------------------------------------------------------


def test_broken_pipe_fails_the_file(model: Path, tmp_path: Path) -> None:
    baby = data_dir("test", "Set5") / "baby.png"  # as BMP: 3 MB, far more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "sronnx", "upscale", str(baby), "-o", "-",
                             "--format", "bmp", "--model", str(model), "--json",
                             str(tmp_path / "r.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = proc.stdout.read(10)  # as `| head -c 10`: the reader goes away
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 1, err
    assert head.startswith(b"BM")
    assert "Traceback" not in err and "done: " not in err, err
    assert f"failed: {baby}: cannot write to standard output: Broken pipe" in err
    assert "0 done, 1 failed, 0 skipped" in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["done"], report["failed"], report["exit_code"]) == (0, 1, 1)
    assert report["files"][0]["status"] == "failed"
    assert report["files"][0]["error"] == "cannot write to standard output: Broken pipe"


# ---- 4. --json - -------------------------------------------------------------------------


def test_json_dash_writes_the_report_to_stdout(model: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    save(tmp_path / "in" / "a.png", photo(20, 24))
    monkeypatch.chdir(tmp_path)
    r = cli("in", "-o", "out", "--json", "-", "--model", model, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)  # standard output holds the report, nothing else
    assert report["done"] == 1 and report["files"][0]["output"] == str(Path("out") / "a.png")
    assert "1 done" in r.stderr
    assert not (tmp_path / "-").exists() and (tmp_path / "out" / "a.png").is_file()
    # a run that cannot start: its report goes there too
    r = cli("in", "-o", "out", "--json", "-", "--model", model)
    assert r.exit_code == 2 and "already exists" in r.stderr
    assert json.loads(r.stdout)["exit_code"] == 2
    # with -o -, the image has standard output: refused before anything else
    r = cli("in/a.png", "-o", "-", "--json", "-", "--model", model)
    assert r.exit_code == 2 and r.stdout == ""
    assert errors(r.stderr) == ["error: --json - and -o - would both write to standard "
                                "output: name a file for the report (--json report.json)"]
    assert not (tmp_path / "-").exists()
    text = " ".join(cli("--help").output.split())
    assert "- writes it to standard output, where the image does not go (not with -o -)" in text
