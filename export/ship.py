"""Turn finished training runs into the package's shipped models, with their cards.

For each run: export best.pt to sronnx/models/NAME.onnx, verify it against the checkpoint
(`sronnx verify`), score it on the benchmark sets with the standard protocol, and write
export/NAME.md (the card: command, data, steps, wall time, machine, scores) and
sronnx/models/index.json.

    python export/ship.py --run RUN_DIR --name NAME --summary TEXT --command "sronnx train ..."

Run from the repository root with the train extra installed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "sronnx" / "models"
DATA = ROOT.parent / "shared" / "data" / "test"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def score(model_path: Path, scale: int, sets: list[str]) -> dict[str, dict[str, float]]:
    """Mean Y-PSNR / Y-SSIM per set, model and bicubic, by `sronnx bench`'s own protocol."""
    from sronnx.benchmark.models import describe_onnx
    from sronnx.benchmark.quality import bicubic_upscaler, evaluate, load_dataset, onnx_upscaler

    model = onnx_upscaler(describe_onnx(model_path, model_path.stem, "ship"))
    out = {}
    for name in sets:
        data = load_dataset(DATA / name)
        m, b = evaluate(model, data, scale), evaluate(bicubic_upscaler(scale), data, scale)
        out[name] = {"psnr": round(m["psnr_y"], 4), "ssim": round(m["ssim_y"], 4),
                     "bic_psnr": round(b["psnr_y"], 4), "bic_ssim": round(b["ssim_y"], 4)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--summary", default="")
    ap.add_argument("--command", required=True, help="the exact sronnx train command")
    ap.add_argument("--sets", default="Set5,Set14,BSD100")
    args = ap.parse_args()

    from sronnx.train.checkpoint import load_checkpoint

    ckpt = args.run / "best.pt"
    data = load_checkpoint(ckpt)
    scale = int(data["scale"])
    MODELS.mkdir(parents=True, exist_ok=True)
    onnx_path = MODELS / f"{args.name}.onnx"
    sronnx = [sys.executable, "-m", "sronnx"]
    subprocess.run([*sronnx, "export", str(ckpt), "-o", str(onnx_path)], check=True)
    verify = subprocess.run([*sronnx, "verify", str(onnx_path), "--checkpoint", str(ckpt)],
                            check=True, capture_output=True, text=True).stdout
    scores = score(onnx_path, scale, args.sets.split(","))

    index_path = MODELS / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else []
    index = [e for e in index if e["name"] != args.name]
    index.append({"name": args.name, "scale": scale, "file": onnx_path.name,
                  "summary": args.summary})
    index.sort(key=lambda e: (e["scale"], e["name"]))
    index_path.write_text(json.dumps(index, indent=2) + "\n")

    cfg = data.get("config", {})
    today = dt.date.today().isoformat()
    lines = [
        f"# {args.name} (x{scale})",
        "",
        args.summary,
        "",
        f"- file: `sronnx/models/{onnx_path.name}` ({onnx_path.stat().st_size:,} bytes)",
        f"- architecture: `{data.get('spec_str', data['arch'])}`",
        f"- trained with: `{args.command}`",
        f"- data: `{cfg.get('data')}` (T91 + BSD200, the classic 291 images); validation: "
        f"{data.get('val')}",
        f"- steps: {int(data['step'])} (best checkpoint), batch {cfg.get('batch')}, HR patch "
        f"{cfg.get('patch')}, loss {cfg.get('loss')}, lr {cfg.get('lr')} {cfg.get('schedule')}",
        f"- training wall time: {float(data.get('wall_s', 0)) / 60:.1f} min of compute on "
        f"{cpu_name()} ({platform.machine()}), torch threads {cfg.get('threads') or 'default'}",
        f"- validation PSNR-Y (held-out training images): {data.get('best_psnr', 0):.2f} dB",
        f"- exported, verified and scored on {today} by `python export/ship.py --run "
        f"{args.run} --name {args.name} ...`",
        "",
        "## Scores (Y channel, border = scale, 8-bit output; Pillow bicubic as baseline)",
        "",
        "| set | PSNR | SSIM | bicubic PSNR | bicubic SSIM |",
        "|---|---|---|---|---|",
    ]
    for name, s in scores.items():
        lines.append(f"| {name} | {s['psnr']:.2f} | {s['ssim']:.4f} | {s['bic_psnr']:.2f} | "
                     f"{s['bic_ssim']:.4f} |")
    lines += ["", "## sronnx verify", "", "```", verify.strip(), "```", ""]
    (ROOT / "export" / f"{args.name}.md").write_text("\n".join(lines))
    (ROOT / "export" / f"{args.name}.scores.json").write_text(json.dumps(
        {"name": args.name, "scale": scale, "date": today, "machine": cpu_name(),
         "scores": scores}, indent=2) + "\n")
    print(f"shipped {onnx_path} :: " + ", ".join(
        f"{k} {v['psnr']:.2f} dB" for k, v in scores.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
