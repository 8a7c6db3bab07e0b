"""`sronnx upscale` progress: on a terminal a bar that moves in output pixels as tiles
finish, within one large image; without a terminal one line per file.

The real command on small Set5 crops: in a subprocess on a pseudo-terminal, or click's runner.
The tiny model is an untrained export.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

from helpers import checked_cli as cli
from helpers import photo, save


def _on_a_terminal(args: list[str]) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sronnx", "upscale", *args],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_moves_within_one_large_image(model: Path, tmp_path: Path) -> None:
    save(tmp_path / "in" / "big.png", photo(70, 100))
    text = _on_a_terminal([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model",
                           str(model), "--provider", "cpu", "--tile", "32"])
    percents = {int(p) for p in re.findall(r"(\d+)%", text)}
    assert len({p for p in percents if 0 < p < 100}) >= 5, text  # 12 tiles, one file
    assert 100 in percents and "1/1 files" in text and "MP/s" in text
    assert "0/1 files" in text  # the bar moved before the file was done
    assert "done: " not in text


def test_progress_without_a_terminal_is_one_line_per_file(model: Path, tmp_path: Path) -> None:
    save(tmp_path / "in" / "a.png", photo(20, 24))
    save(tmp_path / "in" / "b.png", photo(22, 24))
    r = cli(tmp_path / "in", "-o", tmp_path / "o", "--model", model, "--provider", "cpu",
            "--tile", "8")
    lines = r.output.splitlines()
    assert [line.split(":")[0] for line in lines[1:3]] == ["done", "done"] and len(lines) == 4
    assert "%" not in r.output
