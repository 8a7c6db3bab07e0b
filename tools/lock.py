"""Write `requirements/dev.lock`: every package `pip install -e '.[dev]'` brings, pinned to one
version with the sha256 of the file pip chose on this machine (Linux x86_64, CPython 3.11).

    python tools/lock.py            # resolve afresh (newest versions pyproject.toml allows)
    python tools/lock.py --check    # exit 1 when the committed lock differs from a fresh one

Why pinned constraints with hashes rather than uv's lock: torch comes from this machine's own
copy of 2.14.1 (pip reads it through its configured find-links; uv would download a 3 GB CUDA
build at every fresh install), and pip's hash-checking mode makes a fresh venv get exactly the
files the suite last passed with. Hash-checking mode refuses editable requirements, so the
test setup installs the lock first, then the checkout with `--no-deps --no-build-isolation`
(setuptools is in the lock).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "dev.lock"
HEADER = """\
# The development and CI install, resolved by `python tools/lock.py` ({python}, {platform}).
# Install: pip install --require-hashes -r requirements/dev.lock
#          pip install --no-deps --no-build-isolation -e .
# Each line: the version and the sha256 of the file pip chose here.
"""


def resolve(python: str, extra: str = "dev") -> list[dict]:
    """pip's installation report for `.[extra]` into an empty environment (nothing installed)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--dry-run",
                        "--ignore-installed", "--report", str(report), f".[{extra}]"],
                       cwd=ROOT, check=True)
        return json.loads(report.read_text())["install"]


def lock_text(items: list[dict], python: str) -> str:
    """The lock file's text: sorted `name==version --hash=sha256:...` lines, sronnx left out."""
    lines = []
    for item in items:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if name.lower() == "sronnx":
            continue
        hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            sys.exit(f"lock: {name} {version} comes without a sha256 "
                     f"({item['download_info']['url']})")
        lines.append(f"{name.lower()}=={version} \\\n    --hash=sha256:{hashes['sha256']}")
    info = subprocess.run([python, "-c", "import platform, sys; print(sys.version.split()[0]); "
                           "print(platform.machine())"], capture_output=True, text=True,
                          check=True).stdout.split()
    head = HEADER.format(python=f"CPython {info[0]}", platform=f"Linux {info[1]}")
    return head + "\n".join(sorted(lines, key=str.lower)) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed lock instead of writing it")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter whose pip resolves (default: this one)")
    args = parser.parse_args()
    text = lock_text(resolve(args.python), args.python)
    if args.check:
        same = LOCK.is_file() and LOCK.read_text() == text
        print("lock: up to date" if same else "lock: differs from a fresh resolution")
        return 0 if same else 1
    LOCK.write_text(text)
    print(f"lock: {LOCK.relative_to(ROOT)}: {text.count('==')} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
