"""Install the newest versions pyproject.toml allows into a throwaway venv, run the suite there,
and say which package broke what.

    python tools/check_latest.py [--keep DIR] [-- PYTEST ARGS...]

Steps: (1) a fresh venv gets `pip install -e '.[dev]'` with no lock, so pip takes the newest
release each range admits; (2) its versions are compared with requirements/dev.lock; (3) the
suite runs there (pytest -q, or the arguments after `--`); (4) for each package newer than the
lock, that package alone is put back to its locked version (`--no-deps`) and the failed tests
are run again: the tests it makes pass again are the ones it broke. Prints one line per newer
package and exits 1 when the suite failed on the newest versions, 0 otherwise.

Takes as long as a fresh install plus the suite (about 15 minutes on 2 cores). Pip's own
configuration still applies (on this machine it caps torch at the release kept on disk).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "dev.lock"
VENV_TOOLS = {"pip"}  # what `python -m venv` brings, not the project


def locked_versions(lock: Path = LOCK) -> dict[str, str]:
    """{normalised name: version} from the lock file."""
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", lock.read_text(), re.MULTILINE)
    return {_norm(name): version for name, version in found}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze",
                          "--exclude-editable"], capture_output=True, text=True,
                         check=True).stdout
    return {_norm(n): v for n, v in (ln.split("==", 1) for ln in out.splitlines() if "==" in ln)}


def failed_tests(junit: Path) -> list[str]:
    """Node ids of the failed or errored tests in a junit XML report."""
    if not junit.is_file():
        return []
    failed = []
    for case in ET.parse(junit).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            path = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
            failed.append(f"{path}::{case.get('name')}")
    return sorted(set(failed))


def run_tests(python: Path, args: list[str], junit: Path) -> list[str]:
    subprocess.run([str(python), "-m", "pytest", *args, f"--junitxml={junit}",
                    "-o", "junit_family=xunit1", "-p", "no:cacheprovider"], cwd=ROOT)
    return failed_tests(junit)


def pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args], cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="build the venv here and keep it")
    parser.add_argument("pytest_args", nargs="*", default=["-q"],
                        help="arguments for pytest (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sronnx-latest-") as tmp:
        venv = args.keep or Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        pip(python, "-e", ".[dev]")
        locked, latest = locked_versions(), installed_versions(python)
        newer = {n: (locked.get(n), v) for n, v in latest.items()
                 if locked.get(n) != v and n not in VENV_TOOLS}
        print("\ncheck-latest: versions that differ from requirements/dev.lock:")
        for name, (old, new) in sorted(newer.items()):
            print(f"  {name}: {old or '(not in the lock)'} -> {new}")
        if not newer:
            print("  none: the lock is the newest the ranges allow")
        failed = run_tests(python, args.pytest_args, Path(tmp) / "latest.xml")
        print(f"\ncheck-latest: {len(failed)} test(s) failed on the newest versions")
        for test in failed:
            print(f"  {test}")
        blamed: set[str] = set()
        for name, (old, new) in sorted(newer.items()):
            if not failed or old is None:
                continue
            pip(python, "--no-deps", f"{name}=={old}")
            still = set(run_tests(python, ["-q", *failed], Path(tmp) / f"{name}.xml"))
            pip(python, "--no-deps", f"{name}=={new}")
            fixed = [t for t in failed if t not in still]
            blamed.update(fixed)
            verdict = (f"breaks {len(fixed)}: " + ", ".join(fixed)) if fixed else "breaks none"
            print(f"check-latest: {name} {new} (lock {old}) {verdict}")
        for test in failed:
            if test not in blamed:
                print(f"check-latest: {test} fails with no single package to blame "
                      "(several together, or not a version change)")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
