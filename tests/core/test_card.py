"""The typed model card (`sronnx.core.ModelCard`): read as untrusted input, given back exactly."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from sronnx.core import (
    CARD_KEY,
    CalibrationRecord,
    ModelCard,
    ModelFileError,
    SourceRecord,
    TrainingRecord,
    shipped_models,
)

onnx = pytest.importorskip("onnx")

COMMUNITY = {
    "sronnx_version": "0.1.0", "arch": "ESRGAN", "spec": "ESRGAN (64nf, 23nb)", "scale": 4,
    "params": 16697987, "trained": True,
    "training": {"note": "a community checkpoint: its training is not known to sronnx"},
    "weights_sha256": "ab" * 32, "exported": "2026-12-01T00:00:00+00:00",
    "torch_version": "2.13.0+cpu",
    "source": {"file": "x4.pth", "sha256": "cd" * 32, "format": "pth",
               "loader": "spandrel 0.4.2"},
    "license": None, "license_note": "see the checkpoint's page", "tiling": "supported",
    "export_shape": "dynamic", "exporter": "dynamo", "batch": "dynamic",
    "parity_max_abs": 3.1e-06, "parity_sizes": ["64x64", "37x53"], "precision": "float32",
}


def _shipped_card_text(path) -> str:
    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}[CARD_KEY]


@pytest.mark.parametrize("name", sorted(m.name for m in shipped_models()))
def test_shipped_cards_round_trip(name: str) -> None:
    """Every shipped model's card reads, and gives back the very dict (and JSON) stored."""
    path = next(m.path for m in shipped_models() if m.name == name)
    text = _shipped_card_text(path)
    card = ModelCard.from_json(text)
    assert card.to_dict() == json.loads(text)
    assert list(card.to_dict()) == list(json.loads(text))  # the keys' order too
    assert card.to_json() == text
    assert card.extra == {} and card.training is not None and card.training.extra == {}
    assert card.precision in ("float32", "int8") and card.trained is True
    assert isinstance(card.training.steps, int) and card.training.val_psnr_y > 20
    assert card.params > 0 and card.macs_per_pixel > 0 and len(card.weights_sha256) == 64


def test_community_card_reads_typed_and_round_trips() -> None:
    card = ModelCard.from_dict(COMMUNITY)
    assert card.source == SourceRecord(file="x4.pth", sha256="cd" * 32, format="pth",
                                       loader="spandrel 0.4.2",
                                       keys=("file", "sha256", "format", "loader"))
    assert card.parity_sizes == ("64x64", "37x53") and card.batch == "dynamic"
    assert card.license is None and card.exporter == "dynamo" and card.macs_per_pixel is None
    assert card.to_dict() == COMMUNITY and "license" in card.to_dict()


def test_unknown_keys_are_kept_in_extra() -> None:
    raw = {"spec": "x", "future_key": {"a": [1, 2]},
           "training": {"steps": 3, "schedule": "cosine", "val": ["Set5", "Set14"]},
           "calibration": {"folder": "T91", "images": 16, "seed": 7}}
    card = ModelCard.from_dict(raw)
    assert card.extra == {"future_key": {"a": [1, 2]}}
    assert card.training.extra == {"schedule": "cosine"}
    assert card.training.val == ("Set5", "Set14")
    assert card.calibration == CalibrationRecord(folder="T91", images=16, extra={"seed": 7},
                                                 keys=("folder", "images", "seed"))
    assert card.to_dict() == raw and list(card.to_dict()) == list(raw)


def test_missing_keys_and_nulls_read_none() -> None:
    card = ModelCard.from_json("{}")
    assert all(getattr(card, f.name) is None for f in fields(card)
               if f.name not in ("extra", "keys"))
    assert card.to_dict() == {}
    nulls = {"val_psnr_y": None, "steps": 5}
    training = TrainingRecord.from_dict(nulls)
    assert training.val_psnr_y is None and training.to_dict() == nulls  # the null kept


@pytest.mark.parametrize(("raw", "key"), [
    ({"params": "172812"}, "params"),
    ({"params": True}, "params"),
    ({"scale": 2.0}, "scale"),
    ({"macs_per_pixel": "43167"}, "macs_per_pixel"),
    ({"trained": 1}, "trained"),
    ({"spec": {"blocks": 8}}, "spec"),
    ({"precision": "bfloat16"}, "precision"),
    ({"int8": "all"}, "int8"),
    ({"exporter": "onnxscript"}, "exporter"),
    ({"parity_sizes": "64x64"}, "parity_sizes"),
    ({"parity_sizes": [64]}, "parity_sizes"),
    ({"batch": 1.5}, "batch"),
    ({"training": "long"}, "training"),
    ({"training": {"steps": "many"}}, "training.steps"),
    ({"training": {"val": [1]}}, "training.val"),
    ({"training": {"degradation": "bicubic"}}, "training.degradation"),
    ({"calibration": {"images": "16"}}, "calibration.images"),
    ({"source": {"loader": 4}}, "source.loader"),
])
def test_wrong_types_are_refused_naming_the_key(raw: dict, key: str) -> None:
    with pytest.raises(ModelFileError, match=rf"the card's {key} must be "):
        ModelCard.from_json(json.dumps(raw))


@pytest.mark.parametrize(("text", "words"), [
    ("[1, 2]", "not a JSON object"),
    ('"card"', "not a JSON object"),
    ("{", "not JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deep"),
])
def test_text_that_is_no_card_is_refused(text: str, words: str) -> None:
    with pytest.raises(ModelFileError, match=words):
        ModelCard.from_json(text)


def test_a_card_made_in_code_writes_its_fields_then_extra() -> None:
    card = ModelCard(spec="rsp:blocks=1", params=10, training=TrainingRecord(steps=4),
                     extra={"note": "x"})
    assert card.to_dict() == {"spec": "rsp:blocks=1", "params": 10,
                              "training": {"steps": 4}, "note": "x"}
    assert ModelCard.from_dict(card.to_dict()).to_dict() == card.to_dict()


@pytest.mark.parametrize("cls", [ModelCard, TrainingRecord, CalibrationRecord, SourceRecord])
def test_every_field_is_checked_and_documented(cls) -> None:
    """Each record's checks name exactly its typed fields (none read unchecked, none lost)."""
    names = {f.name for f in fields(cls)} - {"extra", "keys"}
    assert set(cls._CHECKS) == names
