"""Every architecture keeps the contract: RGB N x 3 x H x W in, N x 3 x sH x sW out."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch.nn import functional as F  # noqa: E402

from sronnx.archs.common import ACTIVATIONS, BicubicUpsample, pad_to_multiple  # noqa: E402
from sronnx.archs.registry import ARCHITECTURES, create_model, format_spec, parse_spec  # noqa: E402
from sronnx.core.descriptor import ModelDescriptor  # noqa: E402

SCALES = (2, 3, 4)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_odd_size_and_batch(name: str, scale: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, scale).eval()
    x = torch.rand(2, 3, 37, 53)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, 37 * scale, 53 * scale)
    assert torch.isfinite(y).all()
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0  # clamped in eval mode
    # The two batch items are independent: running one alone gives the same result.
    with torch.no_grad():
        y1 = model(x[1:])
    torch.testing.assert_close(y1, y[1:], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "spec",
    [
        "cae2:kernel=6,base=8",
        "cae3:kernel=6,down=pool,base=8",
        "cae4:down=pool,base=8",
        "cae3:norm=batch,base=8",
        "cae2:final_act=tanh,base=8",
        "cae2:residual=false,base=8",
    ]
    + [f"cae2:act={a},base=8" for a in ACTIVATIONS if a != "none"],
)
@pytest.mark.parametrize("scale", SCALES)
def test_study_variants_keep_the_contract(spec: str, scale: int) -> None:
    model = create_model(spec, scale).eval()
    for h, w in ((37, 53), (1, 1), (5, 2)):
        with torch.no_grad():
            y = model(torch.rand(2, 3, h, w))
        assert y.shape == (2, 3, h * scale, w * scale)


@pytest.mark.parametrize("scale", SCALES)
def test_fc_bottleneck_fixed_size_and_refusal(scale: int) -> None:
    model = create_model("cae2:bottleneck=fc,base=8,fixed=16,latent=32", scale).eval()
    assert model.fixed_input_size() == (16, 16)
    with torch.no_grad():
        y = model(torch.rand(2, 3, 16, 16))
    assert y.shape == (2, 3, 16 * scale, 16 * scale)
    with pytest.raises(ValueError, match="takes only 16x16"):
        model(torch.rand(1, 3, 17, 16))
    d = model.descriptor()
    assert d.size_requirement == "fixed" and d.fixed_size == (16, 16)
    with pytest.raises(ValueError, match="fixed-size"):
        d.check_input_size(20, 16)


def test_fc_default_size_is_the_studys_256() -> None:
    model = create_model("cae2:bottleneck=fc,base=4,latent=8", 2)
    assert model.fixed_input_size() == (128, 128)  # 256x256 after the in-model x2 upsampling


@pytest.mark.parametrize("scale", SCALES)
def test_bicubic_convolution_equals_torch_bicubic(scale: int) -> None:
    # float32 weights: equal to torch's bicubic up to float32 rounding
    x = torch.rand(2, 3, 11, 7)
    ref = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    torch.testing.assert_close(BicubicUpsample(scale)(x), ref, atol=2e-6, rtol=0)
    tiny = torch.rand(1, 3, 1, 2)  # borders clamp like torch's (edge replication)
    ref = F.interpolate(tiny, scale_factor=scale, mode="bicubic", align_corners=False)
    torch.testing.assert_close(BicubicUpsample(scale)(tiny), ref, atol=2e-6, rtol=0)


def test_mirror_padding_handles_any_size() -> None:
    x = torch.arange(3.0).reshape(1, 1, 1, 3)
    y = pad_to_multiple(x, 8)
    assert y.shape == (1, 1, 8, 8)
    assert y[0, 0, 0].tolist() == [0, 1, 2, 2, 1, 0, 0, 1]


def test_spec_round_trip_and_errors() -> None:
    name, kw = parse_spec("cae3:act=gelu,kernel=6,norm=batch,residual=false")
    assert name == "cae3" and kw == {"act": "gelu", "kernel": 6, "norm": "batch",
                                     "residual": False}
    model = create_model("cae3:act=gelu,kernel=6,base=8", 2)
    again = create_model(format_spec("cae3", model.spec()), 2)
    assert again.spec() == model.spec()
    with pytest.raises(ValueError, match="unknown architecture"):
        parse_spec("vdsr")
    with pytest.raises(ValueError, match="key=value"):
        parse_spec("cae3:gelu")
    with pytest.raises(ValueError, match="activation"):
        create_model("cae2:act=swishy", 2)
    with pytest.raises(ValueError, match="kernel"):
        create_model("cae2:kernel=5", 2)


def test_descriptor_json_round_trip() -> None:
    d = create_model("cae2:bottleneck=fc,base=8,fixed=16", 3).descriptor(receptive_field=9)
    back = ModelDescriptor.from_json(d.to_json())
    assert back == d


@pytest.mark.parametrize("scale", SCALES)
def test_rsp_reparameterization_keeps_the_function(scale: int) -> None:
    torch.manual_seed(0)
    model = create_model("rsp:res=true,act=leaky_relu,channels=8,blocks=3", scale)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    model.eval()
    x = torch.rand(2, 3, 19, 23)
    with torch.no_grad():
        before = model.restore(x)
        model.reparameterize()
        after = model.restore(x)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    assert model.spec()["deploy"] is True
    rebuilt = create_model(format_spec("rsp", model.spec()), scale)
    rebuilt.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval().restore(x), after, atol=1e-6, rtol=0)
