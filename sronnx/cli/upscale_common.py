"""What the modules of `sronnx upscale` share: the exit codes, the limits and names the
command's messages use, the job key, and two path checks that never raise. It imports
nothing of sronnx, so the command, its report, its messages and its Ray helpers can all
import it without an import circle.
"""

from __future__ import annotations

from pathlib import Path

EXIT_FAILED_FILES = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a run stopped with Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM (timeout, systemd, docker stop)
LEFT_OUT_SHOWN = 5  # entries named on the summary line; the --json report has them all
STDIO = "-"  # as an input: one image from standard input; as -o: the output to standard output
DEFAULT_MAX_OUTPUT_PIXELS = 1_000_000_000  # one gigapixel: 3 GB as 8-bit RGB, held whole
WHOLE_IMAGE = 1 << 30  # --tile 0: a tile larger than any image, so one model call per image

Key = tuple[str, str]  # a job as its result names it: (input, output)


def exists(path: Path) -> bool:
    """Whether something (a broken symbolic link too) is at `path`; False where the name
    itself is the problem (too long...), which the file's own run reports."""
    try:
        return path.exists() or path.is_symlink()
    except OSError:
        return False


def resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # e.g. a name too long, a symbolic-link loop
        return path.absolute()
