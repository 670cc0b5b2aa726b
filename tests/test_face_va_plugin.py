"""Plug-in valence/arousal regressors (``"face.va"``: onnx, emonet/torch) on tiny random models.

The onnx package is not installed (and torch.onnx.export needs it), so the tiny ONNX model is
written here directly in the ONNX protobuf wire format: GlobalAveragePool -> Flatten -> Gemm ->
Tanh, whose output is known in closed form, so the loader's preprocessing can be checked exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from congruence.errors import CongruenceError, ModelUnavailableError
from congruence.ingest.media import Frame
from congruence.provenance import Kind

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# ---------------------------------------------------------------- minimal ONNX writer


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _int(field: int, v: int) -> bytes:
    return _varint(field << 3) + _varint(v)


def _bytes(field: int, b: bytes | str) -> bytes:
    b = b.encode() if isinstance(b, str) else b
    return _varint(field << 3 | 2) + _varint(len(b)) + b


def _tensor(name: str, arr: np.ndarray) -> bytes:  # TensorProto: dims=1, data_type=2 (FLOAT=1), name=8, raw=9
    arr = np.ascontiguousarray(arr, dtype="<f4")
    return b"".join(_int(1, d) for d in arr.shape) + _int(2, 1) + _bytes(8, name) + _bytes(9, arr.tobytes())


def _value_info(name: str, shape: list[int]) -> bytes:  # ValueInfoProto{name, TypeProto{Tensor{elem, shape}}}
    dims = b"".join(_bytes(1, _int(1, d)) for d in shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, _int(1, 1) + _bytes(2, dims)))


def _node(op: str, inputs: list[str], outputs: list[str], **ints: int) -> bytes:
    b = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs) + _bytes(4, op)
    for k, v in ints.items():  # AttributeProto{name=1, i=3, type=20 (INT=2)}
        b += _bytes(5, _bytes(1, k) + _int(3, v) + _int(20, 2))
    return b


def write_tiny_onnx(path: Path, weight: np.ndarray, bias: np.ndarray, size: int = 32) -> Path:
    """``output = tanh(mean_hw(input) @ weight + bias)``; input (1, 3, size, size)."""
    nodes = [
        _node("GlobalAveragePool", ["input"], ["pooled"]),
        _node("Flatten", ["pooled"], ["flat"], axis=1),
        _node("Gemm", ["flat", "W", "B"], ["logits"]),
        _node("Tanh", ["logits"], ["output"]),
    ]
    graph = b"".join(_bytes(1, n) for n in nodes) + _bytes(2, "tiny_va")
    graph += _bytes(5, _tensor("W", weight)) + _bytes(5, _tensor("B", bias))
    graph += _bytes(11, _value_info("input", [1, 3, size, size]))
    graph += _bytes(12, _value_info("output", [1, weight.shape[1]]))
    # ModelProto: ir_version=1, producer_name=2, graph=7, opset_import=8 (domain "", version 13)
    model = (
        _int(1, 8) + _bytes(2, "congruence-tests") + _bytes(7, graph) + _bytes(8, _bytes(1, "") + _int(2, 13))
    )
    path.write_bytes(model)
    return path


def expected_output(rgb: tuple[int, int, int], weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    x = (np.array(rgb, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return np.tanh(x @ weight + bias)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("va")
    out = {}
    for name, n_out in (("va2", 2), ("mtl10", 10)):  # (valence, arousal) / HSEmotion: 8 logits + V + A
        w = rng.normal(size=(3, n_out)).astype(np.float32)
        b = rng.normal(scale=0.3, size=n_out).astype(np.float32)
        out[name] = (write_tiny_onnx(root / f"{name}.onnx", w, b), w, b)
    return out


# ---------------------------------------------------------------- ONNX loader


@pytest.mark.parametrize("rgb", [(200, 30, 90), (10, 250, 128)])
def test_onnx_loader_runs_the_model_on_the_face_crop(tiny_models, rgb) -> None:
    from congruence.perception.face.va import OnnxVA

    path, w, b = tiny_models["va2"]
    va = OnnxVA(model_path=path)
    face = np.empty((57, 43, 3), np.uint8)
    face[:] = rgb  # a flat colour survives resizing exactly, so the output is known
    res = va.predict(face_rgb=face, expr_probs=np.full(7, 1 / 7), aus=None)
    v, a = expected_output(rgb, w, b)
    assert (res.valence, res.arousal) == pytest.approx((float(v), float(a)), abs=1e-4)
    assert res.expression is None
    assert va.input_size == 32  # read from the model's input shape
    assert va.kind is Kind.MODEL and va.estimator == "onnx:va2.onnx"


def test_onnx_multitask_layout_splits_logits_from_valence_arousal(tiny_models) -> None:
    from congruence.perception.face.va import OnnxVA

    path, w, b = tiny_models["mtl10"]
    face = np.full((40, 40, 3), (120, 80, 200), np.uint8)
    res = OnnxVA(model_path=path).predict(face_rgb=face, expr_probs=np.full(7, 1 / 7), aus=None)
    out = expected_output((120, 80, 200), w, b)
    assert (res.valence, res.arousal) == pytest.approx((float(out[8]), float(out[9])), abs=1e-4)
    assert res.expression is not None and len(res.expression) == 8
    assert sum(res.expression) == pytest.approx(1.0)
    assert int(np.argmax(res.expression)) == int(np.argmax(out[:8]))


@pytest.mark.slow
def test_plugin_outputs_flow_into_the_turn_columns_as_model_outputs(tiny_models, astronaut) -> None:
    from congruence.perception.face.analyzer import FaceAnalyzer
    from congruence.perception.face.va import OnnxVA

    path, _, _ = tiny_models["mtl10"]
    fa = FaceAnalyzer(va="onnx", va_model_path=str(path))
    res = fa.analyze_turn([Frame(0.0, astronaut), Frame(0.5, astronaut[:, ::-1].copy())], key_time=0.5)
    fa.close()
    v = res.values
    assert v["face_status"] == "ok"
    # the turn mean is the mean of the model's answers on the two key crops (frame 2 is a mirror)
    direct = OnnxVA(model_path=path)
    crop = res.artifacts["key_crop"]
    assert v["face_valence_key"] == pytest.approx(
        direct.predict(face_rgb=crop, expr_probs=np.zeros(7), aus=None).valence, abs=0.05
    )
    assert -1 <= v["face_valence"] <= 1 and -1 <= v["face_arousal"] <= 1
    assert v["face_va_expression"] is not None and len(v["face_va_expression"]) == 8
    prov = res.provenance
    for col in ("face_valence", "face_arousal", "face_valence_key", "face_arousal_key", "face_va_expression"):
        assert prov[col].kind is Kind.MODEL and prov[col].estimator == "onnx:mtl10.onnx"
    assert prov["face_expr_happy"].kind is Kind.MODEL  # FER still runs beside the plug-in
    assert fa.config()["va"]["path"].endswith("mtl10.onnx")


def test_missing_or_broken_model_files_are_clear_errors(tmp_path: Path) -> None:
    from congruence.perception.face.va import OnnxVA

    with pytest.raises(ModelUnavailableError, match="not found"):
        OnnxVA(model_path=tmp_path / "absent.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailableError, match="onnxruntime cannot load"):
        OnnxVA(model_path=junk).predict(
            face_rgb=np.zeros((8, 8, 3), np.uint8), expr_probs=np.zeros(7), aus=None
        )
    with pytest.raises(CongruenceError, match="normalisation"):
        OnnxVA(model_path=junk, normalize="zscore")


# ---------------------------------------------------------------- torch (EmoNet-style) loader


class TinyEmoNet(torch.nn.Module):
    """Returns a dict like EmoNet: expression logits, valence, arousal (module level: picklable)."""

    def __init__(self, n_expression: int = 5) -> None:
        super().__init__()
        self.head = torch.nn.Linear(3, n_expression + 2)
        self.n = n_expression

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.head(x.mean(dim=(2, 3)))
        return {
            "expression": out[:, : self.n],
            "valence": torch.tanh(out[:, -2]),
            "arousal": torch.tanh(out[:, -1]),
        }


def test_torch_state_dict_loader_with_factory(tmp_path: Path) -> None:
    from congruence.perception.face.va import TorchVA

    torch.manual_seed(0)
    net = TinyEmoNet(n_expression=5)
    path = tmp_path / "emonet_tiny.pth"
    # EmoNet checkpoints carry DataParallel's "module." prefix
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, path)
    va = TorchVA(model_path=path, model_factory=TinyEmoNet, factory_kwargs={"n_expression": 5}, input_size=16)
    face = np.full((30, 30, 3), (60, 180, 240), np.uint8)
    res = va.predict(face_rgb=face, expr_probs=np.zeros(7), aus=None)
    x = torch.tensor([60, 180, 240], dtype=torch.float32) / 255.0  # EmoNet scaling: RGB / 255
    with torch.no_grad():
        ref = net.head(x[None])[0]
    assert res.valence == pytest.approx(float(torch.tanh(ref[-2])), abs=1e-5)
    assert res.arousal == pytest.approx(float(torch.tanh(ref[-1])), abs=1e-5)
    assert res.expression is not None and len(res.expression) == 5


def test_torch_loader_refuses_pickles_unless_allowed(tmp_path: Path) -> None:
    from congruence.perception.face.va import TorchVA

    path = tmp_path / "whole_module.pt"
    torch.save(TinyEmoNet(), path)
    face = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(CongruenceError, match="allow_pickle"):
        TorchVA(model_path=path).predict(face_rgb=face, expr_probs=np.zeros(7), aus=None)
    res = TorchVA(model_path=path, allow_pickle=True).predict(face_rgb=face, expr_probs=np.zeros(7), aus=None)
    assert -1 <= res.valence <= 1
    sd_path = tmp_path / "state.pt"
    torch.save(TinyEmoNet().state_dict(), sd_path)
    with pytest.raises(CongruenceError, match="model_factory"):
        TorchVA(model_path=sd_path).predict(face_rgb=face, expr_probs=np.zeros(7), aus=None)
