"""E-THER ablations (section VII, Tables VI-VII): train each condition, reply, score, tabulate.

Conditions (:data:`~congruence.training.config.ABLATION_CONDITIONS`), each a copy of the given
configuration with one change:

=================== ============================================ ==========================
condition           change                                       E-THER
=================== ============================================ ==========================
``full``            none (the configuration as given)            Full Method
``no_incongruence`` ``weights.scheme = "uniform"`` (w = 1)        VII-A-1 a
``engagement``      ``weights.scheme = "engagement"`` (w = 1 + E) VII-A-1 b, eq. 6
``text_only``       ``model.text_only = true`` (same weights)     VII-A-1 c
=================== ============================================ ==========================

Every condition trains with the same seed, data and hyper-parameters, then replies to the
held-out (eval) instances with the training prompt, and the replies are scored with the
evaluation suite (:class:`congruence.evaluation.suite.EvaluationSuite`: PCT metrics, BERTScore
against the client utterance). :func:`congruence.evaluation.tables.ablation_table` compares each
condition with the full method on the same items (paired t-test on ``pair_id``, Cohen's d_av, %
change of the mean).

Output folder (``ablation.output_dir``, default ``<train.output_dir>/ablation``)::

    <condition>/train/          checkpoints, metrics.csv, final/ (trainer output)
    <condition>/replies.csv     pair_id, session_id, turn_index, client, response, reference
    <condition>/scores.csv      replies + metric columns
    <condition>/condition.json  configuration, losses, speed, mean weight: the "finished" marker
    ablation.csv / ablation.md  tidy table / Tables VI-VII view
    conditions.csv              one row per condition (losses, samples/s, mean weight, dropout share)
    effect_sizes.png            E-THER Figure 4
    provenance.json             which estimator made each score column

A condition whose ``condition.json`` matches its configuration is reused, so an interrupted run
resumes with the next condition (and a condition interrupted in training resumes from its last
checkpoint).
"""

from __future__ import annotations

import contextlib
import gc
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from congruence.errors import CongruenceError
from congruence.training.config import ABLATION_CONDITIONS, Config

#: Changes each condition makes to the configuration (``Config.with_`` sections).
CHANGES: dict[str, dict[str, dict[str, Any]]] = {
    "full": {},
    "no_incongruence": {"weights": {"scheme": "uniform"}},
    "engagement": {"weights": {"scheme": "engagement"}},
    "text_only": {"model": {"text_only": True}},
}
NOTE = (
    "Scores are the rule-based PCT proxies and BERTScore of `congruence evaluate` (E-THER V-A), "
    "not clinical ratings. p: paired t-test against the Full Method on the same held-out pairs; "
    "d: Cohen's d, full - condition (positive = the condition scores lower); * marks p < 0.05."
)


@dataclass
class AblationResult:
    output_dir: Path
    tidy: pd.DataFrame  # metric, condition, mean, sd, n, change_pct, p_value, cohens_d, test
    table: pd.DataFrame  # the Tables VI-VII view
    table_markdown: str
    conditions: pd.DataFrame
    scores: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def output_root(cfg: Config) -> Path:
    """``ablation.output_dir``, or ``<train.output_dir>/ablation``."""
    a = cfg.ablation.output_dir
    return Path(a) if a else Path(cfg.train.output_dir) / "ablation"


def condition_config(cfg: Config, condition: str, root: Path) -> Config:
    """``cfg`` with the change of ``condition`` and its own training folder ``root/<condition>/train``."""
    if condition not in CHANGES:
        raise CongruenceError(f"Unknown ablation condition {condition!r}.", f"Use: {', '.join(CHANGES)}.")
    return cfg.with_(
        name=condition, train={"output_dir": str(root / condition / "train")}, **CHANGES[condition]
    )


def _fingerprint(cfg: Config) -> dict[str, Any]:
    """The configuration a finished condition is matched on (output folders left out)."""
    d = cfg.as_dict()
    d["train"].pop("output_dir", None)
    d["ablation"].pop("output_dir", None)
    d["ablation"].pop("conditions", None)
    return json.loads(json.dumps(d))


def reply_table(items: list[dict[str, Any]], replies: list[str]) -> pd.DataFrame:
    """Replies keyed by ``pair_id`` (``session_id:turn_index``) with client utterance and reference."""
    return pd.DataFrame(
        {
            "pair_id": [f"{it['session_id']}:{int(it['turn_index'])}" for it in items],
            "session_id": [str(it["session_id"]) for it in items],
            "turn_index": [int(it["turn_index"]) for it in items],
            "client": [str(it["client_text"]) for it in items],
            "response": replies,
            "reference": [str(it["counsellor_text"]) for it in items],
        }
    )


class Scorer:
    """The evaluation suite (:class:`congruence.evaluation.suite.EvaluationSuite`), loaded once for
    every condition: PCT metrics (+ BERTScore) on the ``client`` / ``response`` columns."""

    def __init__(self, cfg: Config) -> None:
        from congruence.evaluation.suite import EvaluationSuite

        a = cfg.ablation
        self.suite = EvaluationSuite(
            similarity=a.similarity,
            word_vectors=a.word_vectors,
            bertscore=a.bertscore,
            bertscore_model=a.bertscore_model,
        )

    def metrics(self) -> list[str]:
        return self.suite.metrics()

    def provenance(self) -> dict[str, Any]:
        return {c: p.as_dict() for c, p in self.suite.columns().items()}

    def score(self, replies: pd.DataFrame) -> pd.DataFrame:
        return self.suite.score(replies, client_col="client", response_col="response")


def _free(res: Any) -> None:
    for attr in ("model", "collator", "tokenizer", "processor"):
        setattr(res, attr, None)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _check_all(cfgs: dict[str, Config], df: pd.DataFrame) -> None:
    """Every condition's data needs, before the first one trains (e.g. engagement values)."""
    from congruence.training.dataset import check_instances

    for name, c in cfgs.items():
        image = not c.model.text_only
        try:
            check_instances(df, scheme=c.weights.scheme, needs_face=c.model.kind == "embedded" and image,
                            needs_frame=c.model.kind == "vlm" and image)  # fmt: skip
        except CongruenceError as exc:
            raise CongruenceError(f"Ablation condition {name!r}: {exc.problem}", exc.fix) from exc


def run_ablations(
    cfg: Config,
    *,
    instances: pd.DataFrame | None = None,
    resume: bool = True,
    log: Callable[[str], None] | None = None,
) -> AblationResult:
    """Train, reply and score every condition of ``cfg.ablation.conditions``; write the tables.

    Under ``accelerate launch`` training is distributed by the trainer; replies, scores and tables
    are made by the main process.
    """
    from accelerate import PartialState

    from congruence.evaluation import tables as T
    from congruence.training.dataset import load_instances
    from congruence.training.infer import generate_replies
    from congruence.training.trainer import _records, train

    say = log or (lambda _msg: None)
    a = cfg.ablation
    if "full" not in a.conditions:
        raise CongruenceError(
            "The ablation table compares every condition with the full method, which is not in "
            f"ablation.conditions = {list(a.conditions)}.",
            "Add 'full' (a finished one is reused, not retrained).",
        )
    root = output_root(cfg)
    root.mkdir(parents=True, exist_ok=True)
    df = instances if instances is not None else load_instances(cfg.data.dataset)
    order = ["full", *(c for c in a.conditions if c != "full")]
    cfgs = {c: condition_config(cfg, c, root) for c in order}
    _check_all(cfgs, df)
    eval_items = _records(df[df["split"] == "eval"], cfg.data.max_eval)
    state = PartialState()
    scorer: Scorer | None = None
    scores: dict[str, pd.DataFrame] = {}
    summary: list[dict[str, Any]] = []
    for k, name in enumerate(order, 1):
        ccfg, folder = cfgs[name], root / name
        label = ABLATION_CONDITIONS[name]
        marker = folder / "condition.json"
        if marker.is_file() and resume:
            done = json.loads(marker.read_text())
            if done.get("config") != _fingerprint(ccfg):
                raise CongruenceError(
                    f"{folder} holds a finished '{name}' run of a different configuration.",
                    "Run with --no-resume to train it again, or choose another ablation output folder.",
                )
            say(f"[{k}/{len(order)}] {label}: finished earlier, reused ({folder})")
            scores[name] = pd.read_csv(folder / "scores.csv")
            summary.append(done["summary"])
            continue
        if folder.exists() and not resume:
            old = folder.with_name(folder.name + ".previous")
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        say(f"[{k}/{len(order)}] {label}: training ({ccfg.weights.scheme} weights"
            f"{', text only' if ccfg.model.text_only else ''}) -> {folder / 'train'}")  # fmt: skip
        res = train(ccfg, instances=df, resume=resume)
        row = {
            "condition": label,
            "key": name,
            "scheme": ccfg.weights.scheme,
            "text_only": ccfg.model.text_only,
            "eval_loss_before": res.eval_loss_before,
            "eval_loss_after": res.eval_loss_after,
            "train_loss": res.train_metrics.get("train_loss"),
            "samples_per_second": res.samples_per_second,
            "dropout_share": res.dropout_share,
            "mean_weight": res.mean_weight,
            "n_eval_pairs": len(eval_items),
        }
        if state.is_main_process:
            say(f"[{k}/{len(order)}] {label}: replying to {len(eval_items)} held-out pairs")
            replies = generate_replies(res.model, res.collator.encoder, eval_items,
                                       max_new_tokens=a.max_new_tokens, temperature=a.temperature,
                                       samples=a.samples, seed=ccfg.train.seed,
                                       batch_size=max(1, ccfg.train.per_device_batch),
                                       use_face=not ccfg.model.text_only)  # fmt: skip
            table = reply_table(eval_items, replies)
            table.to_csv(folder / "replies.csv", index=False)
            scorer = scorer or Scorer(cfg)
            say(f"[{k}/{len(order)}] {label}: scoring")
            scored = scorer.score(table)
            scored.to_csv(folder / "scores.csv", index=False)
            scores[name] = scored
            marker.write_text(
                json.dumps({"condition": name, "config": _fingerprint(ccfg), "summary": row}, indent=1) + "\n"
            )
        summary.append(row)
        _free(res)
        state.wait_for_everyone()
    if not state.is_main_process:
        return AblationResult(root, pd.DataFrame(), pd.DataFrame(), "", pd.DataFrame(summary))

    scorer = scorer or Scorer(cfg)
    metrics = scorer.metrics()
    labels = {n: ABLATION_CONDITIONS[n] for n in order}
    tidy = T.ablation_table(scores["full"], {labels[n]: scores[n] for n in order[1:]}, metrics=metrics,
                            full_name=labels["full"], id_col="pair_id")  # fmt: skip
    view = T.format_ablation(tidy)
    md = (
        f"# Ablation ({cfg.model.kind} model{': ' + Path(cfg.model.path).name if cfg.model.path else ''}, "
        f"{len(eval_items)} held-out pairs)\n\n{T.to_markdown(view)}\n{NOTE}\n"
    )
    files = T.write_table(tidy, root / "ablation", markdown=view)
    (root / "ablation.md").write_text(md, encoding="utf-8")
    conditions = pd.DataFrame(summary)
    conditions.to_csv(root / "conditions.csv", index=False)
    (root / "provenance.json").write_text(json.dumps(scorer.provenance(), indent=1) + "\n", encoding="utf-8")
    files += [root / "conditions.csv", root / "provenance.json"]
    with contextlib.suppress(CongruenceError):  # a single condition or no finite effect size: no plot
        files.append(T.effect_size_plot(tidy, root / "effect_sizes.png",
                                        title="Ablation: effect sizes against the Full Method"))  # fmt: skip
    return AblationResult(output_dir=root, tidy=tidy, table=view, table_markdown=md, conditions=conditions,
                          scores=scores, files=files)  # fmt: skip


__all__ = ["CHANGES", "AblationResult", "condition_config", "output_root", "reply_table", "run_ablations"]
