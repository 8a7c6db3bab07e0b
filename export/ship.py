"""Turn finished training runs into the package's shipped models, with their cards.

For each run: export best.pt to sronnx/models/NAME.onnx (`sronnx.export.export_checkpoint`,
the library call behind `sronnx export`), verify it against the checkpoint
(`sronnx.export.verify_model`, the library call behind `sronnx verify`), score it on the
benchmark sets with the standard protocol, and write export/NAME.md (the card: command,
data, steps, wall time, machine, scores) and sronnx/models/index.json.

    python export/ship.py --run RUN_DIR --name NAME --summary TEXT --command "sronnx train ..." \\
        [--int8-calib ../shared/data/train/T91 --cpu-default int8] [--trained-on TEXT]
        [--keep-float32] [--kind photo]

`--kind photo` ships a model for JPEG-compressed and noisy inputs (`sronnx.engine.choice`):
its entries carry `"kind": "photo"` and it becomes the scale's `photo_defaults`; the clean
models of that scale stay.

`--keep-float32` leaves the shipped float32 file as it is (a re-export writes other bytes:
the card's date and version) and makes only the int8 sibling anew; `export/requantize.sh`
used it when the int8 scheme changed (issue 11).

Run from the repository root with the train extra installed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "sronnx" / "models"
DATA = ROOT.parent / "shared" / "data" / "test"


def _verify_text(path: Path, ckpt: Path, images: Path | None) -> str:
    """What `sronnx verify PATH --checkpoint CKPT [--images IMAGES]` prints on stdout
    (`sronnx.export.verify_model` and `format_report`, the library calls behind it); exits
    as the command would (its messages on stderr) when verification fails or cannot run."""
    from sronnx.export import (
        VerifyError,
        VerifyRequest,
        failure_lines,
        format_report,
        verify_model,
    )

    try:
        report = verify_model(VerifyRequest(path, checkpoint=ckpt, images=images))
    except VerifyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.code)
    if not report.ok:
        print("\n".join(format_report(report)))
        print("\n".join(failure_lines(report)), file=sys.stderr)
        sys.exit(1)
    return "\n".join(format_report(report)).strip()


def cpu_name() -> str:
    from sronnx.benchmark import machine_info

    return machine_info()["cpu_model"]


def score(paths: dict[str, Path], scale: int, sets: list[str]) -> dict[str, dict]:
    """Mean Y-PSNR / Y-SSIM per precision and set, with bicubic, by `sronnx bench`'s own
    protocol; each set is read and bicubic scored once."""
    from sronnx.benchmark import bicubic_upscaler, evaluate, load_dataset, onnx_upscaler

    models = {p: onnx_upscaler(path) for p, path in paths.items()}
    out: dict[str, dict] = {p: {} for p in paths}
    for name in sets:
        data = load_dataset(DATA / name)
        b = evaluate(bicubic_upscaler(scale), data, scale)
        for precision, model in models.items():
            m = evaluate(model, data, scale)
            out[precision][name] = {"psnr": round(m["psnr_y"], 4),
                                    "ssim": round(m["ssim_y"], 4),
                                    "bic_psnr": round(b["psnr_y"], 4),
                                    "bic_ssim": round(b["ssim_y"], 4)}
    return out


def _parser() -> argparse.ArgumentParser:
    """The command line of this script."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--summary", default="")
    ap.add_argument("--command", required=True, action="append",
                    help="the exact sronnx train command (repeat for a resumed run)")
    ap.add_argument("--trained-on", default=None,
                    help="where it trained [default: this machine's CPU]")
    ap.add_argument("--sets", default="Set5,Set14,BSD100")
    ap.add_argument("--int8-calib", type=Path, default=None,
                    help="also ship NAME-int8.onnx, calibrated on these (training) images")
    ap.add_argument("--cpu-default", choices=["float32", "int8"], default="float32",
                    help="which file `sronnx upscale` uses on CPUs (CUDA: float32)")
    ap.add_argument("--verify-images", type=Path, default=None,
                    help="also verify on these images (sronnx verify --images)")
    ap.add_argument("--kind", choices=["clean", "photo", "jpeg"], default="clean",
                    help="the input kind the model is the default for")
    ap.add_argument("--keep-float32", action="store_true",
                    help="keep the shipped float32 file; export only the int8 sibling anew")
    return ap


def main() -> int:
    ap = _parser()
    args = ap.parse_args()

    from sronnx.core import INT8_SUFFIX
    from sronnx.train import load_checkpoint

    ckpt = args.run / "best.pt"
    data = load_checkpoint(ckpt)
    scale = int(data["scale"])
    MODELS.mkdir(parents=True, exist_ok=True)
    files = {"float32": MODELS / f"{args.name}.onnx"}
    if args.int8_calib:
        files["int8"] = MODELS / f"{args.name}{INT8_SUFFIX}.onnx"
    export_log, verify = _export_and_verify(ap, args, ckpt, files)
    scores = score(files, scale, args.sets.split(","))
    _write_index(args, files, scale, scores)

    today = dt.date.today().isoformat()
    cpu = cpu_name()
    lines = _card(args, data, files, scores, cpu, today)
    for precision in files:
        lines += ["", f"## sronnx export and verify ({precision})", "", "```",
                  export_log[precision], verify[precision], "```"]
    lines.append("")
    (ROOT / "export" / f"{args.name}.md").write_text("\n".join(lines))
    (ROOT / "export" / f"{args.name}.scores.json").write_text(json.dumps(
        {"name": args.name, "scale": scale, "date": today, "machine": cpu,
         "scores": scores["float32"], "scores_by_precision": scores}, indent=2) + "\n")
    for precision, sc in scores.items():
        print(f"shipped {files[precision]} :: " + ", ".join(
            f"{k} {v['psnr']:.2f} dB" for k, v in sc.items()))
    return 0


def _export_and_verify(ap: argparse.ArgumentParser, args: argparse.Namespace, ckpt: Path,
                       files: dict[str, Path]) -> tuple[dict[str, str], dict[str, str]]:
    """Export each precision's file (or keep the float32 one with --keep-float32) and verify
    it against the checkpoint: (precision -> what the export said, precision -> what
    `sronnx verify` says)."""
    from sronnx.export import ExportOptions, export_checkpoint

    verify, export_log = {}, {}
    for precision, path in files.items():
        if precision == "float32" and args.keep_float32:
            if not path.is_file():
                ap.error(f"--keep-float32: {path} does not exist")
            export_log[precision] = f"(kept: {path.name} was not exported again)"
        else:  # the library call behind `sronnx export` (its quality check for int8)
            lines: list[str] = []
            result = export_checkpoint(ckpt, path, ExportOptions(
                precision=precision, force=True,
                calib=args.int8_calib if precision == "int8" else None,
                on_check=lambda check, lines=lines: lines.append(check.line())))
            export_log[precision] = "\n".join([*lines, result.summary()])
        verify[precision] = _verify_text(path, ckpt, args.verify_images)
    return export_log, verify


def _write_index(args: argparse.Namespace, files: dict[str, Path], scale: int,
                 scores: dict[str, dict]) -> None:
    """sronnx/models/index.json with these files' entries (replacing the same names and the
    scale's earlier models of this kind) and the scale's default of this kind."""
    from sronnx.core import INT8_SUFFIX, read_index

    index_path = MODELS / "index.json"
    index = read_index(index_path)
    names = {f"{args.name}{INT8_SUFFIX}" if p == "int8" else args.name: p for p in files}
    index["models"] = [e for e in index["models"] if e["name"] not in names and not (
        e.get("scale") == scale and e.get("kind", "clean") == args.kind)]
    for name, precision in names.items():
        digest = hashlib.sha256(files[precision].read_bytes()).hexdigest()
        entry = {"name": name, "scale": scale, "file": files[precision].name,
                 "precision": precision, "sha256": digest,
                 "set5_psnr_y": scores[precision]["Set5"]["psnr"], "summary": args.summary}
        if args.kind != "clean":
            entry["kind"] = args.kind
        index["models"].append(entry)
    index["models"].sort(key=lambda e: (e["scale"], e.get("kind", "clean"), e["name"]))
    cpu = f"{args.name}{INT8_SUFFIX}" if args.cpu_default == "int8" else args.name
    key = "defaults" if args.kind == "clean" else f"{args.kind}_defaults"
    index.setdefault(key, {})[str(scale)] = {"cpu": cpu, "cuda": args.name}
    index[key] = dict(sorted(index[key].items()))
    index_path.write_text(json.dumps(index, indent=2) + "\n")


def _card(args: argparse.Namespace, data: dict, files: dict[str, Path],
          scores: dict[str, dict], cpu: str, today: str) -> list[str]:
    """The lines of export/NAME.md up to its scores table (included): the files, the
    default it becomes, the training record and commands, the scores per set."""
    scale = int(data["scale"])
    cfg = data.get("config", {})
    where = args.trained_on or f"{cpu} ({platform.machine()})"
    commands = "\n".join(f"    {c}" for c in args.command)
    lines = [
        f"# {args.name} (x{scale})",
        "",
        args.summary,
        "",
        *(f"- {p} file: `sronnx/models/{f.name}` ({f.stat().st_size:,} bytes)"
          for p, f in files.items()),
        f"- default of `sronnx upscale --scale {scale}` for "
        + {"clean": "clean inputs", "photo": "noisy inputs (and JPEG ones where no JPEG "
           "model ships; the rule: `sronnx models`)",
           "jpeg": "JPEG-compressed inputs (the rule: `sronnx models`)"}[args.kind]
        + f": on CPUs the {args.cpu_default} file, on CUDA the float32 file",
        f"- training degradation: `{json.dumps(data.get('degradation', {'name': 'bicubic'}))}`",
        *([f"- fine-tuned from: `{cfg['init']}`"] if cfg.get("init") else []),
        f"- architecture: `{data.get('spec_str', data['arch'])}`",
        f"- data: `{cfg.get('data')}` (T91 + BSD200, the classic 291 images); validation: "
        f"{data.get('val')}",
        f"- steps: {int(data['step'])} (best checkpoint), batch {cfg.get('batch')}, HR patch "
        f"{cfg.get('patch')}, loss {cfg.get('loss')}, lr {cfg.get('lr')} {cfg.get('schedule')}, "
        f"warm-up {cfg.get('warmup')}, seed {cfg.get('seed')}",
        f"- training wall time: {float(data.get('wall_s', 0)) / 60:.1f} min on {where}",
        "- validation PSNR-Y (held-out training images"
        + ("" if cfg.get("degradation", "bicubic") == "bicubic" else
           f", degraded by `{cfg.get('degradation')}` as in training, seeded")
        + f"): {data.get('best_psnr', 0):.2f} dB",
        f"- exported, verified and scored on {today} on {cpu} by `python export/ship.py "
        f"--run {args.run} --name {args.name} ...`",
        "",
        "Trained with (the same commands with `--device cpu` reproduce it on any machine):",
        "",
        commands,
        "",
        "## Scores (Y channel, border = scale, 8-bit output; Pillow bicubic as baseline)",
        "",
        "| set | " + " | ".join(f"{p} PSNR | {p} SSIM" for p in files)
        + " | bicubic PSNR | bicubic SSIM |",
        "|---|" + "---|---|" * len(files) + "---|---|",
    ]
    first = scores["float32"]
    for name in first:
        cells = " | ".join(f"{scores[p][name]['psnr']:.2f} | {scores[p][name]['ssim']:.4f}"
                           for p in files)
        lines.append(f"| {name} | {cells} | {first[name]['bic_psnr']:.2f} | "
                     f"{first[name]['bic_ssim']:.4f} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
