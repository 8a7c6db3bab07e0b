"""Tests of the paired-image data pipeline (sronnx.train.data) on real training images."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import DATA, uint8_array
from PIL import Image

from sronnx.imaging import degrade
from sronnx.train.data import (
    DataError,
    ImagePair,
    PatchSampler,
    load_pairs,
    load_rgb,
    to_nchw_float,
)

T91 = DATA / "train" / "T91"
# A few T91 images with odd sizes, so cropping to a multiple of 2, 3 and 4 is exercised.
SAMPLE_NAMES = ["t1.png", "t10.png", "t12.png", "t2.png"]


@pytest.fixture(scope="module")
def t91() -> list[Path]:
    files = [T91 / n for n in SAMPLE_NAMES]
    if not all(f.is_file() for f in files):
        pytest.skip(f"shared training images not found in {T91} (need {', '.join(SAMPLE_NAMES)})")
    return files


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def _expected_standard(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    lr, hr = degrade.make_pair(_rgb(path), scale)
    return uint8_array(lr), uint8_array(hr)


# ------------------------------------------------------------------------------------ loading


def test_import_without_torch() -> None:
    code = "import sys; sys.modules['torch'] = None; import sronnx.train.data; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_load_rgb_real_image(t91: list[Path]) -> None:
    arr = load_rgb(t91[0])
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    np.testing.assert_array_equal(arr, uint8_array(_rgb(t91[0])))
    np.testing.assert_array_equal(load_rgb(str(t91[0])), arr)


def test_load_rgb_converts_modes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, size=(9, 13), dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    Image.fromarray(grey, "L").convert("P").save(tmp_path / "palette.png")
    rgba = rng.integers(0, 256, size=(9, 13, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.full((9, 13), 0x8040, dtype=np.uint16)).save(tmp_path / "grey16.png")

    for name in ("grey.png", "palette.png"):
        arr = load_rgb(tmp_path / name)
        assert arr.shape == (9, 13, 3) and arr.dtype == np.uint8
        for c in range(3):
            np.testing.assert_array_equal(arr[:, :, c], grey)
    np.testing.assert_array_equal(load_rgb(tmp_path / "rgba.png"), rgba[:, :, :3])
    arr16 = load_rgb(tmp_path / "grey16.png")
    assert arr16.shape == (9, 13, 3)
    assert np.all(arr16 == 0x80)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    # 40 wide x 20 high: left half red, right half blue.
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    with Image.open(path) as raw:
        assert raw.size == (40, 20)  # stored unrotated

    arr = load_rgb(path)
    assert arr.shape == (40, 20, 3)  # height and width swapped
    top, bottom = arr[:20].reshape(-1, 3).mean(0), arr[20:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 50  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 50


def test_to_nchw_float() -> None:
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 14
    out = to_nchw_float(arr)
    assert out.shape == (1, 3, 2, 3) and out.dtype == np.float32
    assert out.flags.c_contiguous
    np.testing.assert_allclose(out[0].transpose(1, 2, 0), arr / 255.0, atol=1e-7)
    np.testing.assert_array_equal(to_nchw_float(np.full((1, 1, 3), 255, np.uint8)), 1.0)
    with pytest.raises(ValueError):
        to_nchw_float(arr.astype(np.float32))
    with pytest.raises(ValueError):
        to_nchw_float(np.zeros((4, 4), np.uint8))


# ------------------------------------------------------------------------------------ layouts


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_hr_only_layout(tmp_path: Path, t91: list[Path], scale: int) -> None:
    root = tmp_path / "hr_only"
    (root / "sub").mkdir(parents=True)
    shutil.copy(t91[0], root / "a.png")
    shutil.copy(t91[1], root / "sub" / "b.png")
    _rgb(t91[2]).save(root / "c.bmp")
    (root / "notes.txt").write_text("not an image, ignored by extension")
    (root / ".hidden.png").write_bytes(b"ignored: hidden")

    pairs = load_pairs(root, scale)
    assert [p.name for p in pairs] == ["a.png", "c.bmp", "sub/b.png"]
    for pair, src in zip(pairs, [t91[0], t91[2], t91[1]], strict=True):
        assert pair.lr.dtype == np.uint8 and pair.hr.dtype == np.uint8
        lh, lw, _ = pair.lr.shape
        assert pair.hr.shape == (lh * scale, lw * scale, 3)
        exp_lr, exp_hr = _expected_standard(src, scale)
        np.testing.assert_array_equal(pair.lr, exp_lr)
        np.testing.assert_array_equal(pair.hr, exp_hr)


def _write_pairs(lr_dir: Path, hr_dir: Path, files: list[Path], scale: int,
                 same_size: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write LR/HR files; return the expected (lr, hr) arrays by HR relative name.

    The HR of the second file is stored as BMP in a subfolder, to check that pairing goes by
    relative path without extension.
    """
    expected = {}
    for i, src in enumerate(files):
        rel_lr = Path(f"img{i}.png") if i != 1 else Path("sub") / "img1.png"
        rel_hr = rel_lr if i != 1 else Path("sub") / "img1.bmp"
        hr = _rgb(src)
        (hr_dir / rel_hr).parent.mkdir(parents=True, exist_ok=True)
        (lr_dir / rel_lr).parent.mkdir(parents=True, exist_ok=True)
        hr.save(hr_dir / rel_hr)
        hr_c = degrade.crop_to_multiple(hr, scale)
        if same_size:
            # A different image of the HR's size, as the study stores its LR.
            lr_full = hr.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            lr_full.save(lr_dir / rel_lr)
            lr = degrade.bicubic_downscale(degrade.crop_to_multiple(lr_full, scale), scale)
        else:
            lr = degrade.bicubic_downscale(hr_c, scale)
            lr.save(lr_dir / rel_lr)
        expected[rel_hr.as_posix()] = (uint8_array(lr), uint8_array(hr_c))
    return expected


def _check_pairs(pairs: list[ImagePair], expected: dict, scale: int) -> None:
    assert sorted(p.name for p in pairs) == sorted(expected)
    for pair in pairs:
        lh, lw, _ = pair.lr.shape
        assert pair.hr.shape == (lh * scale, lw * scale, 3)
        exp_lr, exp_hr = expected[pair.name]
        np.testing.assert_array_equal(pair.lr, exp_lr)
        np.testing.assert_array_equal(pair.hr, exp_hr)


@pytest.mark.parametrize("same_size", [False, True], ids=["lr-at-1/scale", "lr-same-size"])
@pytest.mark.parametrize("scale", [2, 3])
def test_lr_hr_layout(tmp_path: Path, t91: list[Path], scale: int, same_size: bool) -> None:
    expected = _write_pairs(tmp_path / "lr", tmp_path / "hr", t91[:3], scale, same_size)
    _check_pairs(load_pairs(tmp_path, scale), expected, scale)


@pytest.mark.parametrize("same_size", [False, True], ids=["lr-at-1/scale", "lr-same-size"])
@pytest.mark.parametrize("scale", [2, 4])
def test_study_layout_with_split(tmp_path: Path, t91: list[Path], scale: int,
                                 same_size: bool) -> None:
    low, high = tmp_path / "dataset_low", tmp_path / "dataset_high"
    train = _write_pairs(low / "train", high / "train", t91[:2], scale, same_size)
    valid = _write_pairs(low / "valid", high / "valid", t91[2:], scale, same_size)

    _check_pairs(load_pairs(tmp_path, scale, split="train"), train, scale)
    _check_pairs(load_pairs(tmp_path, scale, split="valid"), valid, scale)
    everything = load_pairs(tmp_path, scale)  # no split: both subfolders, paths kept
    assert sorted(p.name for p in everything) == sorted(
        [f"train/{k}" for k in train] + [f"valid/{k}" for k in valid])
    with pytest.raises(DataError, match="split folder not found") as err:
        load_pairs(tmp_path, scale, split="test")
    assert str(low / "test") in str(err.value)


# ------------------------------------------------------------------------------------ errors


def _bad_files(tmp_path: Path, real: Path) -> dict[str, Path]:
    bad = tmp_path / "bad"
    bad.mkdir()
    files = {
        "corrupt": bad / "corrupt.png",
        "truncated": bad / "truncated.png",
        "empty": bad / "empty.png",
        "text": bad / "text.jpg",
    }
    files["corrupt"].write_bytes(np.random.default_rng(1).integers(0, 256, 4000, np.uint8)
                                 .tobytes())
    data = real.read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a JPEG\n" * 20)
    return files


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "empty", "text"])
def test_unreadable_image_named(tmp_path: Path, t91: list[Path], kind: str) -> None:
    path = _bad_files(tmp_path, t91[0])[kind]
    with pytest.raises(DataError, match="cannot read image") as err:
        load_rgb(path)
    assert str(path) in str(err.value)

    # Through load_pairs too, among good images in an HR-only folder.
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(t91[1], root / "good.png")
    shutil.copy(path, root / path.name)
    with pytest.raises(DataError, match="cannot read image") as err:
        load_pairs(root, 2)
    assert str(root / path.name) in str(err.value)


def test_pair_size_mismatch(tmp_path: Path, t91: list[Path]) -> None:
    (tmp_path / "lr").mkdir()
    (tmp_path / "hr").mkdir()
    hr = _rgb(t91[0])
    hr.save(tmp_path / "hr" / "x.png")
    w, h = hr.size
    hr.resize((w // 2 + 3, h // 2)).save(tmp_path / "lr" / "x.png")
    with pytest.raises(DataError, match="size mismatch") as err:
        load_pairs(tmp_path, 2)
    msg = str(err.value)
    assert str(tmp_path / "lr" / "x.png") in msg and str(tmp_path / "hr" / "x.png") in msg
    assert f"{w // 2 + 3}x{h // 2}" in msg and f"{w}x{h}" in msg


@pytest.mark.parametrize("lonely", ["lr", "hr"])
def test_missing_partner(tmp_path: Path, t91: list[Path], lonely: str) -> None:
    _write_pairs(tmp_path / "lr", tmp_path / "hr", t91[:1], 2, same_size=False)
    extra = tmp_path / lonely / "extra.png"
    shutil.copy(t91[1], extra)
    with pytest.raises(DataError, match=f"{lonely.upper()} image without an") as err:
        load_pairs(tmp_path, 2)
    assert str(extra) in str(err.value)


def test_empty_and_missing_folders(tmp_path: Path, t91: list[Path]) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="no images") as err:
        load_pairs(empty, 2)
    assert str(empty) in str(err.value)

    paired = tmp_path / "paired"
    (paired / "lr").mkdir(parents=True)
    (paired / "hr").mkdir()
    shutil.copy(t91[0], paired / "hr" / "x.png")
    with pytest.raises(DataError, match="no images") as err:
        load_pairs(paired, 2)
    assert str(paired / "lr") in str(err.value)

    missing = tmp_path / "nope"
    with pytest.raises(DataError, match="does not exist") as err:
        load_pairs(missing, 2)
    assert str(missing) in str(err.value)


def test_layout_errors(tmp_path: Path, t91: list[Path]) -> None:
    lone = tmp_path / "lone"
    (lone / "lr").mkdir(parents=True)
    with pytest.raises(DataError, match="without its partner") as err:
        load_pairs(lone, 2)
    assert str(lone / "lr") in str(err.value)

    study = tmp_path / "study"
    (study / "dataset_low").mkdir(parents=True)
    with pytest.raises(DataError, match="without its partner") as err:
        load_pairs(study, 2)
    assert str(study / "dataset_low") in str(err.value)

    dup = tmp_path / "dup"
    _write_pairs(dup / "lr", dup / "hr", t91[:1], 2, same_size=False)
    _rgb(t91[0]).save(dup / "hr" / "img0.bmp")
    with pytest.raises(DataError, match="same name") as err:
        load_pairs(dup, 2)
    assert str(dup / "hr" / "img0.bmp") in str(err.value)

    tiny = tmp_path / "tiny"
    tiny.mkdir()
    Image.new("RGB", (3, 1)).save(tiny / "dot.png")
    with pytest.raises(DataError, match="too small") as err:
        load_pairs(tiny, 2)
    assert str(tiny / "dot.png") in str(err.value)


# ------------------------------------------------------------------------------------ sampler


def _coded_pair(name: str, h: int, w: int, scale: int, tag: int) -> ImagePair:
    """LR whose pixels say where they are (R=row, G=column, B=tag); HR = LR blown up by
    pixel replication, so each LR pixel owns one constant scale x scale HR block."""
    rows, cols = np.mgrid[0:h, 0:w]
    lr = np.stack([rows, cols, np.full_like(rows, tag)], axis=2).astype(np.uint8)
    hr = np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)
    return ImagePair(name=name, lr=lr, hr=hr)


def _to_uint8_hwc(batch: np.ndarray) -> np.ndarray:
    return np.rint(batch * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)


def _dihedral(a: np.ndarray) -> list[np.ndarray]:
    """The 8 square symmetries of an HxWxC array."""
    out = []
    for k in range(4):
        r = np.rot90(a, k, axes=(0, 1))
        out += [r, r[:, ::-1]]
    return out


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sampler_alignment_and_augmentation(scale: int) -> None:
    pair = _coded_pair("coded", 50, 70, scale, tag=7)
    lp = 6
    sampler = PatchSampler([pair], scale, patch=lp * scale, seed=scale)
    lr_b, hr_b = sampler.batch(200)
    lr_u, hr_u = _to_uint8_hwc(lr_b), _to_uint8_hwc(hr_b)

    seen_transforms, seen_corners = set(), set()
    for lr, hr in zip(lr_u, hr_u, strict=True):
        # Aligned with the same transform: the HR patch is exactly the LR patch with every
        # pixel replicated into a scale x scale block. A misplaced HR offset (even by one
        # pixel) or a different flip/rotation on one side breaks this.
        np.testing.assert_array_equal(hr, np.repeat(np.repeat(lr, scale, 0), scale, 1))
        # The LR patch is a transformed crop of the source image; find which one.
        y0, x0 = int(lr[:, :, 0].min()), int(lr[:, :, 1].min())
        src = pair.lr[y0 : y0 + lp, x0 : x0 + lp]
        matches = [i for i, t in enumerate(_dihedral(src)) if np.array_equal(t, lr)]
        assert len(matches) == 1
        seen_transforms.add(matches[0])
        seen_corners.add((y0, x0))
    assert seen_transforms == set(range(8))  # all flips and rotations occur
    assert len(seen_corners) > 100  # positions are spread out
    ys, xs = zip(*seen_corners, strict=True)
    assert max(ys) <= 50 - lp and max(xs) <= 70 - lp


def test_sampler_shapes_and_range_on_real_images(tmp_path: Path, t91: list[Path]) -> None:
    for f in t91:
        shutil.copy(f, tmp_path / f.name)
    scale, patch = 3, 48
    sampler = PatchSampler(load_pairs(tmp_path, scale), scale, patch, seed=0)
    assert sampler.skipped == []
    lr, hr = sampler.batch(8)
    assert lr.shape == (8, 3, 16, 16) and hr.shape == (8, 3, 48, 48)
    assert lr.dtype == np.float32 and hr.dtype == np.float32
    assert lr.flags.c_contiguous and hr.flags.c_contiguous
    for a in (lr, hr):
        assert a.min() >= 0.0 and a.max() <= 1.0 and a.max() > 0.5
        np.testing.assert_allclose(a * 255.0, np.rint(a * 255.0), atol=1e-3)  # from uint8
    # The HR patch, degraded the standard way, is close to the LR patch (borders aside).
    for k in range(8):
        hr_img = Image.fromarray(_to_uint8_hwc(hr[k : k + 1])[0])
        down = uint8_array(degrade.bicubic_downscale(hr_img, scale)).astype(np.float64)
        lr_k = _to_uint8_hwc(lr[k : k + 1])[0].astype(np.float64)
        assert np.abs(down[2:-2, 2:-2] - lr_k[2:-2, 2:-2]).mean() < 3.0


def test_sampler_weights_by_area() -> None:
    big = _coded_pair("big", 60, 60, 2, tag=1)  # area 3600
    small = _coded_pair("small", 20, 20, 2, tag=2)  # area 400
    sampler = PatchSampler([small, big], 2, patch=20, seed=3)
    lr, _ = sampler.batch(2000)
    tags = _to_uint8_hwc(lr)[:, 0, 0, 2]
    share_big = float(np.mean(tags == 1))
    assert abs(share_big - 0.9) < 0.03


def test_sampler_determinism_and_seeds(t91: list[Path], tmp_path: Path) -> None:
    shutil.copy(t91[0], tmp_path / "a.png")
    shutil.copy(t91[1], tmp_path / "b.png")
    pairs = load_pairs(tmp_path, 2)
    a, b, c = (PatchSampler(pairs, 2, 32, seed=s) for s in (5, 5, 6))
    for _ in range(3):
        (la, ha), (lb, hb), (lc, hc) = a.batch(4), b.batch(4), c.batch(4)
        assert not np.array_equal(la, lc)
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(ha, hb)
        assert not np.array_equal(ha, hc)


def test_sampler_state_round_trip_through_json() -> None:
    pairs = [_coded_pair("a", 40, 30, 2, tag=1), _coded_pair("b", 25, 50, 2, tag=2)]
    original = PatchSampler(pairs, 2, 16, seed=11)
    original.batch(5)
    saved = json.loads(json.dumps(original.state()))
    expected = [original.batch(5) for _ in range(3)]

    resumed = PatchSampler(pairs, 2, 16, seed=999)  # a different seed: state overrides it
    resumed.set_state(saved)
    for exp_lr, exp_hr in expected:
        got_lr, got_hr = resumed.batch(5)
        np.testing.assert_array_equal(got_lr, exp_lr)
        np.testing.assert_array_equal(got_hr, exp_hr)


def test_sampler_skips_small_images() -> None:
    big = _coded_pair("big.png", 30, 30, 2, tag=1)
    tiny = _coded_pair("sub/tiny.png", 10, 40, 2, tag=2)  # HR 20 high < patch 24
    sampler = PatchSampler([tiny, big], 2, patch=24, seed=0)
    assert sampler.skipped == ["sub/tiny.png"]
    lr, _ = sampler.batch(20)
    assert np.all(_to_uint8_hwc(lr)[:, :, :, 2] == 1)

    with pytest.raises(DataError, match="no image is at least 24x24"):
        PatchSampler([tiny], 2, patch=24, seed=0)


def test_sampler_argument_errors() -> None:
    pair = _coded_pair("a", 20, 20, 3, tag=1)
    with pytest.raises(ValueError, match="multiple of the scale"):
        PatchSampler([pair], 3, patch=20, seed=0)
    bad = ImagePair(name="bad.png", lr=pair.lr, hr=pair.hr[:-1])
    with pytest.raises(DataError, match="bad.png"):
        PatchSampler([bad], 3, patch=9, seed=0)
