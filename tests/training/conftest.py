"""Turn tables built in the test with the fields training needs, and real face crops."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

UTTERANCES = [
    ("Honestly, I'm fine. Everything is great, really wonderful.", "It sounds like things are going "
     "well. "
     "What has been on your mind?", "contradiction", 0.95),
    ("I finally got the job I wanted, and I am so happy about it!", "That is lovely to hear. How does it "
     "feel?",
     "none", 0.1),
    ("It's nothing, I'm just a bit tired I guess.", "You say it's nothing, and I notice you look "
     "heavy as you say it.", "minimizing", 0.7),
    ("We moved house last month and the kids like the new school.", "A big change, and the children are "
     "settling in.", "none", 0.05),
]  # fmt: skip


def turn_table(session: str, crop: str, *, annotate: bool = False) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(zlib.crc32(session.encode()))  # hash() is salted per process
    for k, (text, reply, itype, s) in enumerate(UTTERANCES):
        expr = rng.dirichlet(np.ones(7))
        row = {"session_id": session, "turn_index": 2 * k + 1, "text": text, "counsellor_text": reply,
               "face_status": "ok", "face_key_crop_file": crop, "text_face_score": s,
               "text_face_type": "none" if itype == "none" else "contradiction",
               "face_engagement": 0.2 + 0.15 * k, "face_valence": float(rng.uniform(-1, 1)),
               "face_arousal": float(rng.uniform(-1, 1))}  # fmt: skip
        for c, v in zip(
            ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), expr, strict=True
        ):
            row[f"face_expr_{c}"] = float(v)
        for au in ("01", "02", "04", "05", "06", "12", "15", "25", "26", "45"):
            row[f"face_au{au}"] = float(rng.uniform(0, 1))
        if annotate:
            row.update(ann_incongruence=itype, ann_engagement=0.5, ann_valence=-0.3, ann_arousal=0.2,
                       ann_dominance=0.1, ann_rater="r1")  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def sessions_dir(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> list[Path]:
    """Five analysed-session folders (turns.parquet + a real face crop); session s0 is human-annotated."""
    from PIL import Image

    root = tmp_path_factory.mktemp("sessions")
    out = []
    for i in range(5):
        d = root / f"s{i}"
        (d / "frames").mkdir(parents=True)
        Image.fromarray(astronaut[30:230, 150:330]).save(d / "frames" / "turn0001.png")
        turn_table(f"s{i}", "frames/turn0001.png", annotate=i == 0).to_parquet(d / "turns.parquet")
        out.append(d)
    return out


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama (hidden 32, 2 layers) saved with SmolLM2's real tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from congruence.generation.backends import smollm2_safetensors

    tok = AutoTokenizer.from_pretrained(str(smollm2_safetensors()))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)  # fmt: skip
    d = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(cfg).save_pretrained(str(d))
    tok.save_pretrained(str(d))
    return d
