"""sronnx.train.degradations: each degradation does what it says, seeded and resumable."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from helpers import uint8_array
from PIL import Image, JpegImagePlugin

from sronnx.imaging import degrade
from sronnx.train import degradations as D

# libjpeg's standard luminance table (ITU T.81 K.1), scaled by quality as libjpeg does.
_STD_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
             14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
             18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]


def _libjpeg_luma(quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(max((q * scale + 50) // 100, 1), 255) for q in _STD_LUMA]


def _photo(w: int = 120, h: int = 90, seed: int = 0) -> Image.Image:
    """A smooth image with some texture: gradients plus a little seeded noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rgb = np.stack([xx / w * 255, yy / h * 255, 128 + 60 * np.sin(xx / 7 + yy / 5)], axis=2)
    rgb += np.random.default_rng(seed).normal(0, 12, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


# --------------------------------------------------------------------------- named set


def test_named_set_is_the_benchmarks() -> None:
    assert list(D.NAMED) == ["clean", "jpeg90", "jpeg75", "jpeg50", "jpeg30", "noise5",
                             "noise10", "area", "lanczos"]
    assert all(isinstance(v, str) and v for v in D.NAMED.values())


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="jpeg75.*lanczos"):
        D.degrade_named("jpeg80", _photo(), 2)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_clean_is_the_standard_protocol(scale: int) -> None:
    img = _photo(121, 91)
    lr, hr = D.degrade_named("clean", img, scale, seed=5)
    want_lr, want_hr = degrade.make_pair(img, scale)
    assert np.array_equal(uint8_array(lr), uint8_array(want_lr)) and np.array_equal(
        uint8_array(hr), uint8_array(want_hr))


@pytest.mark.parametrize("name", list(D.NAMED))
def test_every_named_degradation_has_the_standard_sizes(name: str) -> None:
    img = _photo(121, 91)
    lr, hr = D.degrade_named(name, img, 3, seed=1)
    assert hr.size == (120, 90) and lr.size == (40, 30)
    assert lr.mode == hr.mode == "RGB"
    assert np.array_equal(uint8_array(hr), uint8_array(degrade.make_pair(img, 3)[1]))


@pytest.mark.parametrize("quality", [90, 75, 50, 30])
def test_jpeg_named_is_a_real_jpeg_of_that_quality(quality: int) -> None:
    img = _photo()
    lr, _ = D.degrade_named(f"jpeg{quality}", img, 2)
    bicubic = degrade.make_pair(img, 2)[0]
    # The step is exactly a Pillow JPEG round trip of the bicubic LR ...
    data = D.jpeg_bytes(bicubic, quality)
    with Image.open(io.BytesIO(data)) as f:
        assert f.format == "JPEG"
        assert JpegImagePlugin.get_sampling(f) == 2  # 4:2:0
        tables = f.quantization
        decoded = f.convert("RGB")
    assert np.array_equal(uint8_array(lr), uint8_array(decoded))
    # ... whose luminance table is libjpeg's for that quality,
    assert sorted(tables[0]) == sorted(_libjpeg_luma(quality))
    # ... and which a re-encode at that quality nearly reproduces (JPEG is near idempotent).
    again = D.jpeg(lr, quality)
    assert np.abs(uint8_array(again).astype(int) - uint8_array(lr)).mean() < 1.5
    # Lower quality, larger error against the clean LR.
    assert not np.array_equal(uint8_array(lr), uint8_array(bicubic))


def test_jpeg_error_grows_as_quality_drops() -> None:
    img = _photo(200, 160)
    clean = uint8_array(D.degrade_named("clean", img, 2)[0]).astype(float)
    errs = [np.abs(uint8_array(D.degrade_named(f"jpeg{q}", img, 2)[0]) - clean).mean()
            for q in (90, 75, 50, 30)]
    assert errs == sorted(errs) and errs[0] > 0


@pytest.mark.parametrize("sigma", [5, 10])
def test_noise_named_has_the_stated_sigma(sigma: int) -> None:
    grey = Image.new("RGB", (512, 512), (128, 128, 128))
    lr, _ = D.degrade_named(f"noise{sigma}", grey, 2, seed=3)
    diff = uint8_array(lr).astype(float) - 128
    assert abs(diff.std() - sigma) < 0.1 * sigma
    assert abs(diff.mean()) < 0.1
    # colour noise: the channels are independent
    c = np.corrcoef(diff[..., 0].ravel(), diff[..., 1].ravel())[0, 1]
    assert abs(c) < 0.05


def test_noise_named_is_seeded() -> None:
    img = _photo()
    a = uint8_array(D.degrade_named("noise5", img, 2, seed=0)[0])
    b = uint8_array(D.degrade_named("noise5", img, 2, seed=0)[0])
    c = uint8_array(D.degrade_named("noise5", img, 2, seed=1)[0])
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("name", list(D.NAMED))
def test_every_named_degradation_is_deterministic(name: str) -> None:
    img = _photo()
    a, _ = D.degrade_named(name, img, 3, seed=7)
    b, _ = D.degrade_named(name, img.copy(), 3, seed=7)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name, filt", [("area", Image.BOX), ("lanczos", Image.LANCZOS)])
def test_resampling_named_use_their_filter(name: str, filt: int) -> None:
    img = _photo(120, 90)
    lr, hr = D.degrade_named(name, img, 3)
    clean, _ = D.degrade_named("clean", img, 3)
    assert not np.array_equal(uint8_array(lr), uint8_array(clean))
    assert np.array_equal(uint8_array(lr), uint8_array(hr.resize((40, 30), filt)))


def test_area_is_the_block_mean() -> None:
    arr = np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)
    lr, _ = D.degrade_named("area", Image.fromarray(arr), 3)
    means = arr.reshape(20, 3, 20, 3, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(uint8_array(lr) - means).max() <= 1.0


# --------------------------------------------------------------------------- primitives


def test_primitives_keep_the_kind_they_are_given() -> None:
    img = _photo(64, 48)
    arr = uint8_array(img)
    rng = np.random.default_rng(0)
    for fn in (lambda x: D.blur(x, sigma=1.0), lambda x: D.resize(x, (32, 24), "lanczos"),
               lambda x: D.jpeg(x, 50)):
        assert isinstance(fn(img), Image.Image)
        out = fn(arr)
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8
        assert np.array_equal(out, uint8_array(fn(img)))
    for fn in (D.gaussian_noise, D.poisson_noise):
        out = fn(arr, 5.0 if fn is D.gaussian_noise else 500.0, rng)
        assert out.dtype == np.uint8 and out.shape == arr.shape


def test_blur_sigma_and_kernel_agree_and_smooth() -> None:
    arr = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    a = D.blur(arr, sigma=1.5)
    b = D.blur(arr, kernel=D.gaussian_kernel(1.5))
    assert np.abs(a.astype(int) - b).max() <= 1
    assert a.astype(float).std() < arr.astype(float).std() / 2
    flat = np.full((20, 20, 3), 77, np.uint8)
    assert np.array_equal(D.blur(flat, kernel=D.gaussian_kernel(2.0, 0.5, 0.7)), flat)
    with pytest.raises(ValueError):
        D.blur(arr)


def test_anisotropic_kernel_is_normalised_and_oriented() -> None:
    k = D.gaussian_kernel(3.0, 0.5, 0.0)
    assert k.sum() == pytest.approx(1.0) and k.shape[0] % 2 == 1
    assert k.sum(axis=0).std() < k.sum(axis=1).std()  # spread along x (columns), not y


def test_gaussian_noise_sigma_and_gray() -> None:
    grey = np.full((256, 256, 3), 128, np.uint8)
    out = D.gaussian_noise(grey, 8.0, np.random.default_rng(0), gray=True)
    diff = out.astype(float) - 128
    assert abs(diff.std() - 8.0) < 0.8
    assert np.array_equal(out[..., 0], out[..., 2])  # one field for all channels


def test_poisson_noise_follows_its_peak() -> None:
    grey = np.full((256, 256, 3), 128, np.uint8)
    for peak in (40.0, 400.0):
        out = D.poisson_noise(grey, peak, np.random.default_rng(0))
        want = 255 * np.sqrt(128 / 255 / peak)
        assert abs((out.astype(float) - 128).std() - want) < 0.1 * want
    black = np.zeros((32, 32, 3), np.uint8)
    assert np.array_equal(D.poisson_noise(black, 40.0, np.random.default_rng(0)), black)


def test_resize_rejects_unknown_filters() -> None:
    with pytest.raises(ValueError, match="lanczos"):
        D.resize(_photo(), (10, 10), "sinc")


# --------------------------------------------------------------------------- training


def _patch(side: int = 48, seed: int = 0) -> np.ndarray:
    return uint8_array(_photo(side, side, seed))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_realistic_shape_dtype(scale: int) -> None:
    deg = D.RealisticDegradation()
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = deg(_patch(12 * scale), scale, rng)
        assert out.shape == (12, 12, 3) and out.dtype == np.uint8


def test_realistic_depends_only_on_the_generator() -> None:
    deg = D.RealisticDegradation()
    patch = _patch()
    rng = np.random.default_rng(42)
    state = rng.bit_generator.state
    first = [deg(patch, 2, rng) for _ in range(10)]
    rng.bit_generator.state = state  # rewind: exactly the same outputs
    again = [D.RealisticDegradation()(patch, 2, rng) for _ in range(10)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    # the draws differ from patch to patch, and from another seed
    assert len({a.tobytes() for a in first}) == 10
    other = deg(patch, 2, np.random.default_rng(43))
    assert not np.array_equal(other, first[0])


def test_realistic_with_everything_off_is_a_plain_resize() -> None:
    quiet = D.RealisticDegradation(second_order_prob=0.0, blur_prob=0.0,
                                   resize_filters=("bicubic",), gaussian_noise_prob=1.0,
                                   gaussian_sigma=(0.0, 0.0), jpeg_quality=(95, 95))
    patch = _patch()
    out = quiet(patch, 2, np.random.default_rng(0))
    want = D.jpeg(D.resize(patch, (24, 24), "bicubic"), 95)
    assert np.array_equal(out, want)


def test_describe_is_json_and_names_the_ranges() -> None:
    for name in D.TRAINING:
        d = D.make_training(name).describe()
        assert d["name"] == name
        json.dumps(d)
    d = D.RealisticDegradation().describe()
    for key in ("blur_sigma", "resize_filters", "gaussian_sigma", "poisson_peak",
                "jpeg_quality", "second_order_prob"):
        assert key in d
    with pytest.raises(ValueError, match="realistic"):
        D.make_training("nope")


def test_bicubic_training_degradation_is_the_standard_downscale() -> None:
    patch = _patch(48)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out = D.BicubicDegradation()(patch, 3, rng)
    assert rng.bit_generator.state == state  # draws nothing
    want = degrade.bicubic_downscale(Image.fromarray(patch), 3)
    assert np.array_equal(out, uint8_array(want))


def test_training_patch_must_be_a_multiple_of_the_scale() -> None:
    with pytest.raises(ValueError, match="multiple"):
        D.RealisticDegradation()(_patch(25), 2, np.random.default_rng(0))


# --------------------------------------------------------------------------- sampler, train


def _pairs():
    from sronnx.train.data import ImagePair

    rng = np.random.default_rng(123)
    out = []
    for i, (h, w) in enumerate([(20, 30), (16, 16), (25, 18)]):
        hr = rng.integers(0, 256, (h * 2, w * 2, 3), dtype=np.uint8)
        lr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        out.append(ImagePair(f"p{i}", lr, hr))
    return out


def test_sampler_without_degradation_keeps_the_standard_stream() -> None:
    """The stream's bytes as they were before degradations existed (pinned)."""
    import hashlib

    from sronnx.train.data import PatchSampler

    s = PatchSampler(_pairs(), 2, 16, seed=7)
    h = hashlib.sha256()
    for _ in range(3):
        lr, hr = s.batch_uint8(5)
        h.update(lr.tobytes())
        h.update(hr.tobytes())
    assert h.hexdigest() == "b95cc42599475c218dd0adb706e73295e20211fef915178a10ff68fc1441f0fb"


def test_sampler_with_realistic_degradation_is_seeded_and_resumable() -> None:
    from sronnx.train.data import PatchSampler

    deg = D.RealisticDegradation()
    plain = PatchSampler(_pairs(), 2, 16, seed=7)
    a = PatchSampler(_pairs(), 2, 16, seed=7, degradation=deg)
    lr0, hr0 = plain.batch_uint8(5)
    lr1, hr1 = a.batch_uint8(5)
    assert np.array_equal(hr0, hr1)  # the same crops and flips come first
    assert lr1.shape == lr0.shape and lr1.dtype == np.uint8
    assert not np.array_equal(lr0, lr1)
    state = json.loads(json.dumps(a.state()))
    straight = [a.batch_uint8(4) for _ in range(3)]
    b = PatchSampler(_pairs(), 2, 16, seed=0, degradation=D.RealisticDegradation())
    b.set_state(state)
    resumed = [b.batch_uint8(4) for _ in range(3)]
    for (la, ha), (lb, hb) in zip(straight, resumed, strict=True):
        assert np.array_equal(la, lb) and np.array_equal(ha, hb)
    c = PatchSampler(_pairs(), 2, 16, seed=8, degradation=deg)
    assert not np.array_equal(c.batch_uint8(5)[0], lr1)


def _losses(run) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_train_realistic_resume_continues_exactly(train_images, tmp_path) -> None:
    """`--degradation realistic` killed after step 6 and resumed == straight through."""
    torch = pytest.importorskip("torch")
    from sronnx.train.checkpoint import load_checkpoint
    from sronnx.train.trainer import TrainConfig, train

    base = dict(arch="rsp:channels=8,blocks=1", scale=2, data=str(train_images), batch=4,
                patch=16, lr=1e-3, val_every=3, ckpt_every=3, seed=5, threads=1, steps=12,
                degradation="realistic")
    train(TrainConfig(**base, out=str(tmp_path / "a")))

    class Killed(Exception):
        pass

    def kill_at_6(progress) -> None:
        if progress.step == 6:
            raise Killed

    with pytest.raises(Killed):
        train(TrainConfig(**base, out=str(tmp_path / "b")), on_progress=kill_at_6)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 6
    # the run's own degradation wins on resume, as the rest of its configuration
    train(TrainConfig(**{**base, "degradation": "bicubic"}, out=str(tmp_path / "b")),
          resume=True)
    a = load_checkpoint(tmp_path / "a" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "last.pt")
    assert a["step"] == b["step"] == 12
    for key, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][key], tensor, atol=1e-6, rtol=0)
    assert _losses(tmp_path / "a") == pytest.approx(_losses(tmp_path / "b"), abs=1e-6)
    assert a["config"]["degradation"] == "realistic"
    assert a["degradation"] == D.RealisticDegradation().describe()
    # and it trained on other inputs than a bicubic run of the same seed
    train(TrainConfig(**{**base, "degradation": "bicubic"}, out=str(tmp_path / "c")))
    assert _losses(tmp_path / "c") != pytest.approx(_losses(tmp_path / "a"), abs=1e-6)
    assert load_checkpoint(tmp_path / "c" / "last.pt")["degradation"]["name"] == "bicubic"


def test_cli_train_degradation_reaches_the_card(train_images, tmp_path) -> None:
    pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    from click.testing import CliRunner

    from sronnx.cli import main
    from sronnx.cli.train import train as train_cmd
    from sronnx.core.card import CARD_KEY

    choices = next(p for p in train_cmd.params if p.name == "degradation").type.choices
    assert list(choices) == list(D.TRAINING)
    runner = CliRunner()
    out = tmp_path / "run"
    r = runner.invoke(main, ["train", "--arch", "rsp:channels=8,blocks=1", "--scale", "2",
                             "--data", str(train_images), "--out", str(out), "--batch", "2",
                             "--patch", "16", "--steps", "2", "--threads", "1",
                             "--degradation", "realistic", "--quiet"])
    assert r.exit_code == 0, r.output
    onnx_path = tmp_path / "m.onnx"
    r = runner.invoke(main, ["export", str(out / "best.pt"), "-o", str(onnx_path)])
    assert r.exit_code == 0, r.output
    props = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    card = json.loads(props[CARD_KEY])
    assert card["training"]["degradation"] == D.RealisticDegradation().describe()
    r = runner.invoke(main, ["train", "--arch", "espcn", "--scale", "2", "--data",
                             str(train_images), "--out", str(tmp_path / "x"), "--steps", "1",
                             "--degradation", "jpeg"])
    assert r.exit_code == 2 and "realistic" in r.output


# --------------------------------------------------------------------------- photo


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_photo_shape_dtype_and_generator_only(scale: int) -> None:
    deg = D.PhotoDegradation()
    patch = _patch(12 * scale)
    rng = np.random.default_rng(7)
    state = rng.bit_generator.state
    first = [deg(patch, scale, rng) for _ in range(30)]
    assert all(o.shape == (12, 12, 3) and o.dtype == np.uint8 for o in first)
    rng.bit_generator.state = state
    again = [deg(patch, scale, rng) for _ in range(30)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert len({a.tobytes() for a in first}) > 20  # the draws differ from patch to patch


def test_photo_branches_do_what_they_say() -> None:
    patch = _patch(96)
    plain = D.resize(patch, (48, 48), "bicubic")
    fixed = dict(blur_prob=0.0, bicubic_prob=1.0)
    clean = D.PhotoDegradation(**fixed, clean_prob=1.0, jpeg_prob=0.0)
    assert np.array_equal(clean(patch, 2, np.random.default_rng(0)), plain)
    jpeg50 = D.PhotoDegradation(**fixed, clean_prob=0.0, jpeg_prob=1.0, jpeg_noise_prob=0.0,
                                jpeg_quality=(50, 50))
    assert np.array_equal(jpeg50(patch, 2, np.random.default_rng(0)), D.jpeg(plain, 50))
    noise = D.PhotoDegradation(**fixed, clean_prob=0.0, jpeg_prob=0.0, gaussian_noise_prob=1.0,
                               gaussian_sigma=(10.0, 10.0), gray_noise_prob=0.0)
    flat = np.full((192, 192, 3), 128, np.uint8)
    out = noise(flat, 2, np.random.default_rng(0)).astype(np.float64) - 128
    assert out.std() == pytest.approx(10.0, rel=0.05)
    # the branch shares are as stated, over many patches
    deg = D.PhotoDegradation()
    rng = np.random.default_rng(1)
    kinds = {"clean": 0, "other": 0}
    for _ in range(400):
        got = deg(patch, 2, rng)
        blurred_or_filtered = not np.array_equal(got, plain)
        kinds["other" if blurred_or_filtered else "clean"] += 1
    # clean and plain bicubic: 0.1 * 0.9 * 0.6 = 5.4% of patches
    assert 0.02 < kinds["clean"] / 400 < 0.10


def test_train_photo_validates_on_degraded_crops(train_images, tmp_path) -> None:
    """best.pt is chosen on validation crops degraded by the run's own degradation (seeded,
    the same in every run); the clean figure is logged beside it."""
    pytest.importorskip("torch")
    from sronnx.train.trainer import TrainConfig, train

    base = dict(arch="rsp:channels=8,blocks=1", scale=2, data=str(train_images), batch=4,
                patch=16, lr=1e-3, val_every=2, ckpt_every=2, seed=5, threads=1, steps=4,
                degradation="photo")
    train(TrainConfig(**base, out=str(tmp_path / "a")))
    train(TrainConfig(**base, out=str(tmp_path / "b")))
    logs = [[json.loads(line) for line in (tmp_path / r / "log.jsonl").read_text().splitlines()
             if "val_psnr_y" in line] for r in ("a", "b")]
    assert [r["step"] for r in logs[0]] == [2, 4]
    for key in ("val_psnr_y", "val_clean_psnr_y"):  # the same crops, the same weights
        assert [r[key] for r in logs[0]] == pytest.approx([r[key] for r in logs[1]], abs=1e-9)
    for r in logs[0]:
        assert r["val_psnr_y"] != pytest.approx(r["val_clean_psnr_y"], abs=1e-3)
    train(TrainConfig(**{**base, "degradation": "bicubic"}, out=str(tmp_path / "c")))
    clean = [json.loads(line) for line in (tmp_path / "c" / "log.jsonl").read_text()
             .splitlines() if "val_psnr_y" in line]
    assert all("val_clean_psnr_y" not in r for r in clean)
