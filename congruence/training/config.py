"""Training configuration (TOML): data, model, LoRA, weights, context dropout, optimisation.

Presets follow E-THER Table IX (``docs/references.md#e-ther``): IDEFICS2 5 epochs, per-device batch 1,
gradient accumulation 32, learning rate 5e-5, FP16; LLaVA 3 epochs, batch 1, accumulation 16,
learning rate 2e-5, BF16. ``configs/training/*.toml`` holds ready files.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from congruence.config import SECTION, S, config_section
from congruence.errors import CongruenceError
from congruence.training.weights import GAMMA_RANGE, SCHEMES

# the sections are frozen: a changed run is a new Config (with_), validated again
_FROZEN = ConfigDict(**{**SECTION, "validate_assignment": False})
Positive = Annotated[int, Field(ge=1)]


@dataclass(frozen=True, config=_FROZEN)
class DataConfig:
    dataset: str = ""  # folder written by `congruence dataset build`
    max_train: Positive | None = None  # cap on instances (quick runs)
    max_eval: Positive | None = None


@dataclass(frozen=True, config=_FROZEN)
class ModelConfig:
    # embedded (face features -> projector -> SmolLM2) | vlm (image-text-to-text)
    kind: Literal["embedded", "vlm"] = "embedded"
    path: str = ""  # embedded: a causal LM folder ("" = the cached SmolLM2); vlm: the model folder
    visual_tokens: Positive = 4  # soft visual tokens of the embedded model
    projector_hidden: Positive = 256
    text_only: bool = False  # E-THER ablation (c): no visual input
    max_length: Annotated[int, Field(ge=16)] = 96  # prompt + response tokens (prompt truncated from the left)
    system_prompt: str = (
        "You are a person-centred counsellor. Respond with genuine empathy in one or two sentences."
    )


@dataclass(frozen=True, config=_FROZEN)
class LoraConfig:
    r: Positive = 8
    alpha: Positive = 16
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    target_modules: Annotated[tuple[str, ...], Field(min_length=1)] = ("q_proj", "v_proj")


@dataclass(frozen=True, config=_FROZEN)
class WeightsConfig:
    scheme: str = "continuous"  # uniform | binary | continuous | engagement
    gamma: float = 1.0  # checked in Config.validate against E-THER eq. 4's range
    # continuous s: eq. 3 with tau_e = the batch's median VA mismatch (E-THER IV-A-3), or "fixed":
    # the analysis table's fixed-scale text_face_score
    tau: Literal["batch_median", "fixed"] = "batch_median"
    lambda_base: Annotated[float, Field(ge=0.0)] = 1.0
    alpha: Annotated[float, Field(ge=0.0)] = 1.0
    normalise: bool = False


@dataclass(frozen=True, config=_FROZEN)
class DropoutConfig:
    # share of training samples with explicit emotional cues removed (E-THER: 30%)
    p: Annotated[float, Field(ge=0.0, le=1.0)] = 0.3


@dataclass(frozen=True, config=_FROZEN)
class TrainConfig:
    output_dir: str = "runs/train"
    epochs: Annotated[float, Field(gt=0.0)] = 1.0
    max_steps: Annotated[int, Field(ge=-1)] = -1  # -1: as many as the epochs take
    per_device_batch: Positive = 4
    grad_accum: Positive = 1
    learning_rate: Annotated[float, Field(gt=0.0)] = 2e-4
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    warmup_steps: Annotated[int, Field(ge=0)] = 0
    logging_steps: Positive = 1
    eval_steps: Positive | None = None
    save_steps: Positive = 50
    save_total_limit: Positive = 2
    seed: Annotated[int, Field(ge=0)] = 0
    threads: Positive | None = None  # torch CPU threads
    deepspeed: str | None = None  # DeepSpeed JSON config (GPU runs under `accelerate launch`)


#: E-THER ablation conditions (VII-A-1) and the column names of Tables VI-VII.
ABLATION_CONDITIONS = {
    "full": "Full Method",
    "no_incongruence": "No Incongruence",
    "engagement": "Engagement-Informed",
    "text_only": "Text-Only",
}


@dataclass(frozen=True, config=_FROZEN)
class AblationConfig:
    """``congruence ablate``: which conditions, how replies are drawn and how they are scored."""

    conditions: tuple[str, ...] = tuple(ABLATION_CONDITIONS)
    output_dir: str = ""  # "" = <train.output_dir>/ablation
    max_new_tokens: Positive = 48
    samples: Positive = 1  # E-THER protocol: 3 samples at temperature 0.7, the median-length one kept
    temperature: Annotated[float, Field(ge=0.0)] = 0.0  # 0 = greedy
    similarity: Literal["minilm", "lexical"] = "minilm"  # PCT mirroring: minilm | lexical
    word_vectors: Literal["glove", "spacy", "none"] = "glove"  # PCT congruence concepts: glove | spacy | none
    bertscore: bool = True
    bertscore_model: str = "auto"  # auto | minilm | roberta-large | a local folder


@dataclass(frozen=True, config=_FROZEN)
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

    def with_(self, **sections: Any) -> Config:
        """A copy with some section fields replaced: ``cfg.with_(weights={"scheme": "uniform"})``."""
        new = self
        for sec, values in sections.items():
            if sec not in (*SECTIONS, "name"):
                raise CongruenceError(f"Unknown config section {sec!r}.", f"Use: {', '.join(SECTIONS)}.")
            if sec == "name":
                new = replace(new, name=str(values))
                continue
            new = replace(
                new, **{sec: _section(type(getattr(new, sec)), {**asdict(getattr(new, sec)), **values}, sec)}
            )
        new.validate()
        return new

    def validate(self) -> None:
        """Checks across fields; each field's type and range is checked when the section is made."""
        w, a = self.weights, self.ablation
        if w.scheme not in SCHEMES:
            raise CongruenceError(
                f"Unknown weights.scheme {w.scheme!r}.", f"Use one of: {', '.join(SCHEMES)}."
            )
        if not GAMMA_RANGE[0] <= w.gamma <= GAMMA_RANGE[1]:
            raise CongruenceError(
                f"weights.gamma = {w.gamma} is outside [0.8, 1.2] (E-THER eq. 4).", "Change it."
            )
        unknown = [c for c in a.conditions if c not in ABLATION_CONDITIONS]
        if unknown or not a.conditions or len(set(a.conditions)) != len(a.conditions):
            raise CongruenceError(
                f"ablation.conditions = {list(a.conditions)} is not a list of distinct known conditions.",
                f"Choose from: {', '.join(ABLATION_CONDITIONS)}.",
            )
        if a.samples > 1 and a.temperature == 0:
            raise CongruenceError(
                f"ablation.samples = {a.samples} needs sampling (temperature > 0).",
                "E-THER draws 3 samples at temperature 0.7: set temperature = 0.7, or samples = 1.",
            )


def _section(cls: type[S], values: dict[str, Any], name: str) -> S:
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
