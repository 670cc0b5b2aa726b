"""Training configuration (TOML): data, model, LoRA, weights, context dropout, optimisation.

Presets follow E-THER Table IX (``papers/e-ther.md``): IDEFICS2 5 epochs, per-device batch 1,
gradient accumulation 32, learning rate 5e-5, FP16; LLaVA 3 epochs, batch 1, accumulation 16,
learning rate 2e-5, BF16. ``configs/training/*.toml`` holds ready files.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from congruence.config import config_section
from congruence.errors import CongruenceError
from congruence.training.weights import GAMMA_RANGE, SCHEMES


@dataclass(frozen=True)
class DataConfig:
    dataset: str = ""  # folder written by `congruence dataset build`
    max_train: int | None = None  # cap on instances (quick runs)
    max_eval: int | None = None


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "embedded"  # embedded (face features -> projector -> SmolLM2) | vlm (image-text-to-text)
    path: str = ""  # embedded: a causal LM folder ("" = the cached SmolLM2); vlm: the model folder
    visual_tokens: int = 4  # soft visual tokens of the embedded model
    projector_hidden: int = 256
    text_only: bool = False  # E-THER ablation (c): no visual input
    max_length: int = 96  # prompt + response tokens (prompt truncated from the left)
    system_prompt: str = (
        "You are a person-centred counsellor. Respond with genuine empathy in one or two sentences."
    )


@dataclass(frozen=True)
class LoraConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")


@dataclass(frozen=True)
class WeightsConfig:
    scheme: str = "continuous"  # uniform | binary | continuous | engagement
    gamma: float = 1.0
    lambda_base: float = 1.0
    alpha: float = 1.0
    normalise: bool = False


@dataclass(frozen=True)
class DropoutConfig:
    p: float = 0.3  # share of training samples with explicit emotional cues removed (E-THER: 30%)


@dataclass(frozen=True)
class TrainConfig:
    output_dir: str = "runs/train"
    epochs: float = 1.0
    max_steps: int = -1
    per_device_batch: int = 4
    grad_accum: int = 1
    learning_rate: float = 2e-4
    precision: str = "fp32"  # fp32 | fp16 | bf16
    warmup_steps: int = 0
    logging_steps: int = 1
    eval_steps: int | None = None
    save_steps: int = 50
    save_total_limit: int = 2
    seed: int = 0
    threads: int | None = None  # torch CPU threads
    deepspeed: str | None = None  # DeepSpeed JSON config (GPU runs under `accelerate launch`)


#: E-THER ablation conditions (VII-A-1) and the column names of Tables VI-VII.
ABLATION_CONDITIONS = {
    "full": "Full Method",
    "no_incongruence": "No Incongruence",
    "engagement": "Engagement-Informed",
    "text_only": "Text-Only",
}


@dataclass(frozen=True)
class AblationConfig:
    """``congruence ablate``: which conditions, how replies are drawn and how they are scored."""

    conditions: tuple[str, ...] = tuple(ABLATION_CONDITIONS)
    output_dir: str = ""  # "" = <train.output_dir>/ablation
    max_new_tokens: int = 48
    samples: int = 1  # E-THER protocol: 3 samples at temperature 0.7, the median-length one kept
    temperature: float = 0.0  # 0 = greedy
    similarity: str = "minilm"  # PCT mirroring: minilm | lexical
    word_vectors: str = "glove"  # PCT congruence concepts: glove | spacy | none
    bertscore: bool = True
    bertscore_model: str = "auto"  # auto | minilm | roberta-large | a local folder


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    weights: WeightsConfig = field(default_factory=WeightsConfig)
    dropout: DropoutConfig = field(default_factory=DropoutConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)
    name: str = "full"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **sections: dict[str, Any]) -> Config:
        """A copy with some section fields replaced: ``cfg.with_(weights={"scheme": "uniform"})``."""
        new = self
        for sec, values in sections.items():
            if sec == "name":
                new = replace(new, name=str(values))
                continue
            new = replace(
                new, **{sec: _section(type(getattr(new, sec)), {**asdict(getattr(new, sec)), **values}, sec)}
            )
        new.validate()
        return new

    def validate(self) -> None:
        m, w, t = self.model, self.weights, self.train
        if m.kind not in ("embedded", "vlm"):
            raise CongruenceError(f"Unknown model.kind {m.kind!r}.", "Use 'embedded' or 'vlm'.")
        if w.scheme not in SCHEMES:
            raise CongruenceError(
                f"Unknown weights.scheme {w.scheme!r}.", f"Use one of: {', '.join(SCHEMES)}."
            )
        if not GAMMA_RANGE[0] <= w.gamma <= GAMMA_RANGE[1]:
            raise CongruenceError(
                f"weights.gamma = {w.gamma} is outside [0.8, 1.2] (E-THER eq. 4).", "Change it."
            )
        if not 0 <= self.dropout.p <= 1:
            raise CongruenceError(
                f"dropout.p = {self.dropout.p} is not a probability.", "Use a value in [0, 1]."
            )
        if t.precision not in ("fp32", "fp16", "bf16"):
            raise CongruenceError(f"Unknown train.precision {t.precision!r}.", "Use fp32, fp16 or bf16.")
        if t.per_device_batch < 1 or t.grad_accum < 1:
            raise CongruenceError(
                "train.per_device_batch and train.grad_accum must be >= 1.", "Fix the config."
            )
        if m.max_length < 16:
            raise CongruenceError(
                f"model.max_length = {m.max_length} leaves no room for a response.", "Use >= 16."
            )
        a = self.ablation
        unknown = [c for c in a.conditions if c not in ABLATION_CONDITIONS]
        if unknown or not a.conditions or len(set(a.conditions)) != len(a.conditions):
            raise CongruenceError(
                f"ablation.conditions = {list(a.conditions)} is not a list of distinct known conditions.",
                f"Choose from: {', '.join(ABLATION_CONDITIONS)}.",
            )
        if a.samples < 1 or a.max_new_tokens < 1 or a.temperature < 0:
            raise CongruenceError(
                "ablation.samples and ablation.max_new_tokens must be >= 1 and temperature >= 0.",
                "Fix the [ablation] section.",
            )
        if a.samples > 1 and a.temperature == 0:
            raise CongruenceError(
                f"ablation.samples = {a.samples} needs sampling (temperature > 0).",
                "E-THER draws 3 samples at temperature 0.7: set temperature = 0.7, or samples = 1.",
            )
        if a.similarity not in ("minilm", "lexical") or a.word_vectors not in ("glove", "spacy", "none"):
            raise CongruenceError(
                f"ablation.similarity = {a.similarity!r} / word_vectors = {a.word_vectors!r} is unknown.",
                "similarity: minilm or lexical; word_vectors: glove, spacy or none.",
            )


def _section(cls: type, values: dict[str, Any], name: str) -> Any:
    if isinstance(values, dict):  # TOML arrays become the dataclasses' tuples
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return config_section(cls, values, name)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "lora": LoraConfig, "weights": WeightsConfig,
            "dropout": DropoutConfig, "train": TrainConfig, "ablation": AblationConfig}  # fmt: skip

#: E-THER Table IX, per architecture.
TABLE_IX = {
    "idefics2": {
        "epochs": 5,
        "per_device_batch": 1,
        "grad_accum": 32,
        "learning_rate": 5e-5,
        "precision": "fp16",
    },
    "llava": {
        "epochs": 3,
        "per_device_batch": 1,
        "grad_accum": 16,
        "learning_rate": 2e-5,
        "precision": "bf16",
    },
}


def config_from_dict(d: dict[str, Any], *, base_dir: Path | None = None) -> Config:
    """A :class:`Config` from a nested mapping (TOML tables); ``train.preset`` applies Table IX."""
    d = dict(d)
    name = str(d.pop("name", "full"))
    unknown = sorted(set(d) - set(SECTIONS))
    if unknown:
        raise CongruenceError(
            f"Unknown config section(s): {', '.join(unknown)}.", f"Use: {', '.join(SECTIONS)}."
        )
    secs = {k: dict(d.get(k, {})) for k in SECTIONS}
    preset = secs["train"].pop("preset", None)
    if preset is not None:
        if preset not in TABLE_IX:
            raise CongruenceError(f"Unknown train.preset {preset!r}.", f"Use one of: {', '.join(TABLE_IX)}.")
        secs["train"] = {**TABLE_IX[preset], **secs["train"]}
    if base_dir is not None:  # relative paths in a config file are relative to the file
        for sec, key in (
            ("data", "dataset"),
            ("train", "output_dir"),
            ("model", "path"),
            ("train", "deepspeed"),
            ("ablation", "output_dir"),
        ):
            v = secs[sec].get(key)
            if v and not Path(v).is_absolute():
                secs[sec][key] = str((base_dir / v).resolve())
    cfg = Config(name=name, **{k: _section(cls, secs[k], k) for k, cls in SECTIONS.items()})
    cfg.validate()
    return cfg


def load_config(path: str | Path) -> Config:
    """Read a TOML training config (paths in it are relative to the file's folder)."""
    p = Path(path)
    if not p.is_file():
        raise CongruenceError(
            f"Config {p} does not exist.", "Pass a TOML file, e.g. configs/training/embedded.toml."
        )
    try:
        d = tomllib.loads(p.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CongruenceError(f"{p} is not valid TOML: {exc}.", "Fix the syntax.") from exc
    return config_from_dict(d, base_dir=p.parent.resolve())


__all__ = ["ABLATION_CONDITIONS", "TABLE_IX", "AblationConfig", "Config", "config_from_dict", "load_config"]
