"""Community PyTorch checkpoints through spandrel: export, verify, upscale, refusals.

Checkpoints are built here from spandrel's architecture classes with small settings and
seeded random weights, and saved as users receive them (a plain state dict .pth, a nested
{"params_ema": ...} or {"params": ...} .pth, a .safetensors file). Nothing is downloaded.
The exports and verifications shared by the tests of this module run in this process (click's
runner); the upscales and the refusals run as `python -m sronnx ...` in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
spandrel = pytest.importorskip("spandrel")
pytest.importorskip("safetensors")

from helpers import ROOT, completed, data_dir  # noqa: E402


def _makers() -> dict[str, tuple[str, object]]:
    """name -> (how it is saved, a function building the model): small settings."""
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.PLKSR import PLKSR
    from spandrel.architectures.RCAN import RCAN
    from spandrel.architectures.SAFMN import SAFMN
    from spandrel.architectures.SPAN import SPAN
    from spandrel.architectures.SwinIR import SwinIR

    return {
        "Compact": ("pth", lambda: Compact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4,
                                           upscale=4)),
        "ESRGAN": ("params_ema", lambda: ESRGAN(in_nc=3, out_nc=3, num_filters=16,
                                                num_blocks=1, scale=2)),
        "SPAN": ("safetensors", lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=16,
                                             upscale=2)),
        "SwinIR": ("params", lambda: SwinIR(img_size=32, in_chans=3, embed_dim=24, depths=[1],
                                            num_heads=[2], window_size=8, upscale=2,
                                            upsampler="pixelshuffledirect", mlp_ratio=2.0)),
        "SAFMN": ("pth", lambda: SAFMN(dim=16, n_blocks=2, upscaling_factor=2)),
        "PLKSR": ("safetensors", lambda: PLKSR(dim=16, n_blocks=2, upscaling_factor=3,
                                               kernel_size=9)),
        "RCAN": ("params_ema", lambda: RCAN(scale=2, n_resgroups=1, n_resblocks=2, n_feats=16,
                                            reduction=4)),
    }


ARCHS = list(_makers())


def _save(model: torch.nn.Module, how: str, folder: Path, name: str) -> Path:
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if how == "safetensors":
        from safetensors.torch import save_file

        path = folder / f"{name}.safetensors"
        save_file(state, str(path))
        return path
    path = folder / f"{name}.pth"
    torch.save(state if how == "pth" else {how: state, "iter": 1000}, path)
    return path


def sronnx(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "sronnx", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """name -> {checkpoint, onnx, export, verify}: every architecture exported and verified
    once, in this process (the upscales and refusals below run `python -m sronnx`)."""
    folder = tmp_path_factory.mktemp("community")
    out: dict[str, dict] = {}
    for i, (name, (how, make)) in enumerate(_makers().items()):
        torch.manual_seed(100 + i)
        ckpt = _save(make().eval(), how, folder, name)
        out[name] = {"checkpoint": ckpt, "onnx": folder / f"{name}.onnx"}
    for d in out.values():
        d["export"] = completed("export", d["checkpoint"], "-o", d["onnx"])
        if d["export"].returncode == 0:
            d["verify"] = completed("verify", d["onnx"], "--checkpoint", d["checkpoint"])
    return out


@pytest.mark.parametrize("name", ARCHS)
def test_export_verify_upscale(built: dict, name: str, tmp_path: Path) -> None:
    from PIL import Image

    from sronnx.core.card import path_name
    from sronnx.runtime.session import load_model

    d = built[name]
    exp = d["export"]
    assert exp.returncode == 0, exp.stderr + exp.stdout
    assert exp.stdout.startswith("wrote ") and "export shape:" in exp.stdout
    assert not d["onnx"].with_name(d["onnx"].name + ".data").exists()
    ver = d["verify"]
    assert ver.returncode == 0, ver.stderr + ver.stdout
    assert "onnx-reference" in ver.stdout and "SHA-256 matches" in ver.stdout

    info = load_model(d["onnx"]).info
    card, desc = info.card, info.descriptor
    assert card.source.file == path_name(d["checkpoint"]) == d["checkpoint"].name
    assert card.source.loader == f"spandrel {spandrel.__version__}"
    assert card.source.format == d["checkpoint"].suffix.lstrip(".")
    import hashlib

    assert card.source.sha256 == hashlib.sha256(d["checkpoint"].read_bytes()).hexdigest()
    assert card.arch == desc.arch == name
    assert card.license is None and "licence" in card.license_note
    assert "license" in card.to_dict()  # written as null: no licence is known
    assert card.parity_max_abs <= 1e-4
    assert card.export_shape in ("dynamic", "dynamic, padded to multiples of 8") \
        or card.export_shape.startswith("fixed ")
    assert desc.receptive_field >= 3 and desc.size.minimum >= 1

    # upscale a real image (48 x 40: every size rule here takes it)
    src = sorted(data_dir("test", "Set5").glob("*.png"))[0]
    img = Image.open(src).convert("RGB").crop((60, 60, 108, 100))
    img.save(tmp_path / "in.png")
    up = sronnx("upscale", tmp_path / "in.png", "-o", tmp_path / "out.png", "-n", d["onnx"])
    assert up.returncode == 0, up.stderr + up.stdout
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    s = desc.scale
    assert out.shape == (40 * s, 48 * s, 3)
    if desc.fixed_size is None:
        # the model itself on the whole image, as spandrel runs it: no mirrored border and
        # no local-range clamp (the CLI's defaults, which random weights trip)
        from sronnx import community
        from sronnx.engine.upscaler import Upscaler

        up = Upscaler(d["onnx"], tile=256, border=0, clamp_range=False)  # one tile
        got = up.upscale_array(np.asarray(img)).astype(np.int32)
        cm = community.load_community(d["checkpoint"])
        x = torch.from_numpy(np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None] / 255)
        ref = cm.spandrel(x)[0].numpy().transpose(1, 2, 0)
        ref = np.clip(np.rint(ref * 255), 0, 255)
        assert np.abs(got - ref).max() <= 2


def test_verify_without_checkpoint_rebuilds_from_the_file(built: dict) -> None:
    with ThreadPoolExecutor(2) as pool:  # two processes at a time
        esrgan, compact = pool.map(lambda name: sronnx("verify", built[name]["onnx"]),
                                   ("ESRGAN", "Compact"))
    res = esrgan
    assert res.returncode == 0, res.stderr + res.stdout
    assert "rebuilt from the file's weights" in res.stdout
    # Compact's PReLU slopes are stored under names the exporter makes up: no rebuild
    res = compact
    assert res.returncode == 2
    assert "--checkpoint" in res.stderr


def test_verify_refuses_another_checkpoint(built: dict) -> None:
    res = sronnx("verify", built["Compact"]["onnx"], "--checkpoint",
                 built["SAFMN"]["checkpoint"])
    assert res.returncode == 1
    assert "match" in res.stderr


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    code = (
        "import os, torch\n"
        "class Evil:\n"
        "    def __reduce__(self):\n"
        f"        return (os.system, ('touch {marker}',))\n"
        f"torch.save({{'params': {{'w': torch.zeros(1)}}, 'x': Evil()}}, r'{tmp_path}/evil.pth')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert not marker.exists()
    res = sronnx("export", tmp_path / "evil.pth", "-o", tmp_path / "evil.onnx")
    assert res.returncode == 2, res.stderr
    assert "evil.pth" in res.stderr and "forbidden" in res.stderr
    assert not marker.exists()
    assert not (tmp_path / "evil.onnx").exists()


def test_unknown_state_dict_is_refused(tmp_path: Path) -> None:
    torch.save({"encoder.weight": torch.zeros(4, 4), "head.bias": torch.zeros(4)},
               tmp_path / "unknown.pth")
    res = sronnx("export", tmp_path / "unknown.pth", "-o", tmp_path / "u.onnx")
    assert res.returncode == 2
    assert "unknown.pth" in res.stderr and "recognises" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_load_refusalscompleted(tmp_path: Path) -> None:
    from sronnx import community

    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(community.CommunityError, match="unsupported checkpoint type"):
        community.load_community(tmp_path / "model.bin")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(community.CommunityError, match="not a state dict"):
        community.load_community(tmp_path / "list.pth")
    # a Compact of 2 input channels: spandrel loads it, sronnx refuses the channel count
    from spandrel.architectures.Compact import Compact

    m = Compact(num_in_ch=2, num_out_ch=2, num_feat=8, num_conv=2, upscale=2)
    torch.save(m.state_dict(), tmp_path / "two.pth")
    with pytest.raises(community.CommunityError, match="2 input and 2 output channels"):
        community.load_community(tmp_path / "two.pth")


def test_size_rules_and_parity_shapes() -> None:
    from sronnx.community import parity_shapes
    from sronnx.core.descriptor import SizeRequirements

    rule = SizeRequirements(minimum=16, multiple_of=8)
    shapes = parity_shapes(rule, None, large=64)
    assert all(h % 8 == 0 and w % 8 == 0 and h >= 16 and w >= 16 for _, h, w in shapes)
    assert any(n == 2 for n, _, _ in shapes)
    assert all(n == 1 for n, _, _ in parity_shapes(rule, None, batch=1))
    assert parity_shapes(rule, (64, 64))[0] == (1, 64, 64)


def test_foreign_onnx_without_card_does_not_crash(tmp_path: Path) -> None:
    """An ONNX file made elsewhere (no sronnx metadata): verify compares ONNX Runtime with
    onnx.reference on inputs shaped as the model's own (the runtime's probe describes it)."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")
    graph = helper.make_graph(
        [node], "up2",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h2", "w2"])],
        [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, tmp_path / "foreign.onnx")
    res = sronnx("verify", tmp_path / "foreign.onnx")
    assert res.returncode == 0, res.stderr + res.stdout
    assert "no PyTorch model was compared" in res.stdout
    assert "onnx-reference" in res.stdout
