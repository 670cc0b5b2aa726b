"""`analyze`: a recorded session (or only its transcript) in, a per-turn multimodal affect table out.

Stages: probe the media -> turns (from a transcript, or ASR + diarization) -> roles and merging ->
per client turn: text, voice and face jobs (:mod:`.jobs`, results cached per turn by :mod:`.cache`)
-> session-level normalisation -> incongruence scores -> the turn table (:mod:`congruence.table`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from congruence import table as turn_table
from congruence.config import AnalysisConfig
from congruence.errors import CongruenceError
from congruence.incongruence.pairs import score_table
from congruence.incongruence.scores import TAU_FIXED
from congruence.ingest import media as media_mod
from congruence.ingest.transcripts import TRANSCRIPT_EXTS
from congruence.io import JsonlStore, text_digest
from congruence.pipeline.cache import CACHE_DIR, STORE_FILE, Source, open_source, unit_keys
from congruence.pipeline.jobs import Analyzers, FaceJob, ModalityJob, ModalityJobs, TextJob, VoiceJob
from congruence.pipeline.turns import turns_from_asr, turns_from_transcript, with_roles
from congruence.provenance import Kind, Provenance
from congruence.schema import DialoguePair, Session
from congruence.version import __version__

Progress = Callable[[str, int, int], None]

#: Seconds by which the decodable media may fall short of its declared duration before the file
#: counts as truncated (container durations and the last packet differ by a frame or two).
TRUNCATION_TOLERANCE = 1.0


@dataclass
class AnalysisResult:
    """What :func:`analyze` produced."""

    session: Session
    table: pd.DataFrame
    provenance: dict[str, Provenance]
    warnings: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


def _noop(stage: str, done: int, total: int) -> None:
    pass


def _inputs(media: str | Path | None, transcript: str | Path | None) -> tuple[Path | None, Path | None]:
    """(media, transcript): a transcript passed as the session means a text-only analysis."""
    if media is not None and transcript is None and Path(media).suffix.lower() in TRANSCRIPT_EXTS:
        return None, Path(media)
    if media is None and transcript is None:
        raise CongruenceError(
            "Nothing to analyse: pass a recording, a transcript, or both.",
            "e.g. `congruence analyze session.mp4 --transcript session.srt`, or "
            "`congruence analyze session.csv` for the words alone.",
        )
    return (Path(media) if media is not None else None), (
        Path(transcript) if transcript is not None else None
    )


def analyze(
    media: str | Path | None = None,
    *,
    transcript: str | Path | None = None,
    out_dir: str | Path | None = None,
    config: AnalysisConfig | None = None,
    roles: str | dict[str, str] | None = None,
    session_id: str | None = None,
    progress: Progress | None = None,
    report: bool = True,
    blur_faces: bool = False,
    respond: bool = False,
    analyzers: Analyzers | None = None,
    responder: Any | None = None,
) -> AnalysisResult:
    """Analyse a recorded session into a per-client-turn affect table.

    Args:
        media: video (mp4, mkv, webm, mov) or audio (wav, flac, mp3, m4a) of the session; or its
            transcript (or ``None`` with ``transcript``) for a text-only analysis, where face and
            voice are missing on every turn (``face_status = "no_video"``, ``voice_status = "no_audio"``).
        transcript: SRT, WebVTT, CSV/TSV or JSON transcript; without one, turns come from ASR
            with word timestamps and speaker diarization.
        out_dir: where ``turns.parquet``, ``turns.csv``, ``summary.json`` and the result cache go
            (default: ``<media or transcript stem>.congruence/`` beside it).
        config: estimator names and sampling settings (defaults: the embedded offline models).
        roles: override of the role assignment, e.g. ``"S1=client,S2=counsellor"``.
        session_id: the ``session_id`` of every row (default: the media or transcript stem).
        progress: ``callback(stage, done, total)``.
        report: also write the self-contained HTML report (``report.html``).
        blur_faces: blur the face thumbnails in the report (the original pixels never reach it).
        respond: add a person-centred reply per client turn (``response_*`` columns; E-THER's
            collection protocol through :class:`~congruence.generation.respond.Responder`, set
            up by ``config.respond``); replies are stored as they finish and a re-run resumes.
        analyzers: analyzers built from the same ``config`` by an earlier call, so a process that
            analyses many sessions (a corpus worker) loads each model once; default: new ones.
        responder: with ``respond``, a :class:`~congruence.generation.respond.Responder` built
            from ``config.respond`` by an earlier call, reused for the same reason.
    """
    t_start = time.perf_counter()
    config = config or AnalysisConfig()
    progress = progress or _noop
    if not respond:
        responder = None
    elif responder is None:
        responder = responder_from_config(config)  # bad settings fail before any work
    media_path, transcript_path = _inputs(media, transcript)
    named = media_path if media_path is not None else transcript_path
    assert named is not None
    if media_path is None and not named.exists():
        raise CongruenceError(f"Transcript not found: {named}.", "Check the path.")
    out = Path(out_dir) if out_dir is not None else named.with_name(named.stem + ".congruence")
    work = out / CACHE_DIR
    work.mkdir(parents=True, exist_ok=True)
    session_id = session_id or named.stem
    warnings: list[str] = []

    source = open_source(media_path, transcript_path, work, progress)
    if source.info is None:
        warnings.append("No media: a text-only analysis; face and voice are missing for every turn.")
    else:
        if source.audio is None:
            warnings.append("The media has no audio track: voice features are missing for every turn.")
        if not source.info.has_video:
            warnings.append("The media has no video stream: face features are missing for every turn.")

    if transcript_path is not None:
        turns, more = turns_from_transcript(str(transcript_path), source.duration, config)
    elif source.audio is not None:
        turns, more = turns_from_asr(source.audio.path, work, source.key, config, progress)
    else:
        raise CongruenceError(
            f"{named.name} has no audio track and no transcript was given, so turns cannot be found.",
            "Pass the transcript with --transcript.",
        )
    warnings += more
    turns, role_map, role_method = with_roles(turns, roles)
    if role_method == "guessed":  # the heuristic can be wrong (a client who asks questions): say so
        warnings.append(
            "Roles were guessed (the counsellor asks more questions and talks less): "
            + ", ".join(f"{k}={v}" for k, v in role_map.items())
            + ". If that is wrong, set them with --roles."
        )
    session = Session(
        session_id=session_id,
        turns=turns,
        media_path=str(media_path) if media_path is not None else None,
        duration=source.duration,
        roles=role_map,
    )
    pairs = session.pairs()
    if not pairs:
        raise CongruenceError(
            f"No client turns found (roles: {', '.join(f'{k}={v}' for k, v in role_map.items())}).",
            "Set the roles explicitly, e.g. --roles 'Speaker A=counsellor,Speaker B=client'.",
        )

    if analyzers is None or analyzers.config.to_dict() != config.to_dict():
        analyzers = Analyzers(config)
    modalities = analyzers.enabled()
    store = JsonlStore(work / STORE_FILE)
    unit_key = unit_keys(config, modalities, source.key)
    clients = [p.client for p in pairs]
    todo = {m: [t for t in clients if unit_key(t, m) not in store] for m in modalities}
    n_total = len(clients)
    n_cached = sum(all(unit_key(t, m) in store for m in modalities) for t in clients)
    untimed = [t for t in clients if t.start is None or t.end is None]
    if untimed and source.info is not None:
        warnings.append(f"{len(untimed)} client turn(s) have no times: only their words are analysed.")
    jobs: dict[str, ModalityJob] = {
        "text": TextJob(analyzers),
        "voice": VoiceJob(analyzers, source.audio),
        "face": FaceJob(analyzers, config, source.path, source.has_video, out / "frames"),
    }
    ModalityJobs(
        jobs={m: jobs[m] for m in modalities},
        store=store,
        unit_key=unit_key,
        progress=progress,
        totals={m: (n_total - len(todo[m]), n_total) for m in modalities},
        columns=lambda m: analyzers.get(m).columns(),
        parallel=config.parallel,
    ).run(todo)
    table = build_table(session, pairs, store, lambda t: [unit_key(t, m) for m in modalities])
    declared = []
    for m in modalities:
        an = analyzers.get(m)
        declared.append(an.columns())
        table = an.finalize(table)
    inc = config.incongruence
    t_score = time.perf_counter()
    table = score_table(table, threshold=inc.threshold, lam=inc.lam, tau_e=inc.tau_e)
    score_seconds = time.perf_counter() - t_score
    declared.append(pair_provenance(table, threshold=inc.threshold, tau_e=inc.tau_e))
    if responder is not None:
        from congruence.generation.respond import response_provenance

        # the replies' file is keyed by the client turns' words: a changed transcript starts afresh
        replies = work / f"responses-{text_digest(source.key, [t.text for t in clients])}.jsonl"
        table = responder.respond_table(table, out=replies, image_root=out, progress=progress)
        declared.append(response_provenance(responder))
    provenance = turn_table.assemble_provenance(*declared)
    # the finalize steps may add columns; anything the analyzers did not describe is flagged
    provenance.update(turn_table.undeclared(table.columns, provenance))
    lost, more = truncation_warnings(source, table)
    warnings += more
    result = AnalysisResult(session=session, table=table, provenance=provenance, warnings=warnings)
    result.stats = {
        "turns": len(turns),
        "client_turns": n_total,
        "from_cache": n_cached,
        # per modality: a run killed part-way has finished some modalities of a turn but not all
        "from_cache_by_modality": {m: n_total - len(todo[m]) for m in modalities},
        "seconds": round(time.perf_counter() - t_start, 3),
        "media_seconds": round(source.duration, 3) if source.duration is not None else None,
        "roles_from": role_method,
        "tau_e": table.attrs.get("tau_e", {}),
        "scoring_seconds": round(score_seconds, 4),
        "lost_to_truncation": lost,
    }
    result.outputs = write_outputs(result, out, info=source.info, config=config)
    if report:
        from congruence.reporting import write_report

        result.outputs["report"] = str(write_report(out, blur_faces=blur_faces))
    return result


def pair_provenance(
    table: pd.DataFrame | None = None, *, threshold: float, tau_e: float | None = None
) -> dict[str, Provenance]:
    """Provenance of the incongruence columns of every modality pair (rule-based: proxies);
    ``table`` (scored) says which pairs compared arousal only; ``tau_e`` is the fixed scale
    (``None``: :data:`~congruence.incongruence.scores.TAU_FIXED`)."""
    tau = TAU_FIXED if tau_e is None else tau_e
    prov: dict[str, Provenance] = {}
    arousal_only = table.attrs.get("arousal_only", []) if table is not None else []
    for name in turn_table.PAIR_NAMES:
        note = f"{name.replace('_', '-')} pair; rule on the modalities' valence/arousal estimates"
        if name in arousal_only:
            note += " (arousal only: no valence estimate for one side)"
        prov[f"{name}_score"] = Provenance(f"ether-continuous-score(tau_e={tau:.3f} fixed)", Kind.PROXY, note)
        prov[f"{name}_dissonance"] = Provenance(f"dissonance-indicator(T={threshold:g})", Kind.PROXY, note)
        prov[f"{name}_type"] = Provenance("ether-type-rules", Kind.PROXY, note)
    return prov


def declared_provenance(config: AnalysisConfig | None = None) -> dict[str, Provenance]:
    """The column -> provenance map an analysis with ``config`` declares, before any work: the
    enabled analyzers' ``columns()`` (building them loads no model) and the pairs' columns.

    For stages that need the table's columns up front (a detector's feature list, a corpus
    schema) instead of keeping their own lists.
    """
    config = config or AnalysisConfig()
    analyzers = Analyzers(config)
    declared = [analyzers.get(m).columns() for m in analyzers.enabled()]
    return turn_table.assemble_provenance(
        *declared, pair_provenance(threshold=config.incongruence.threshold, tau_e=config.incongruence.tau_e)
    )


def truncation_warnings(source: Source, table: pd.DataFrame) -> tuple[dict[str, list[int]], list[str]]:
    """Client turns lost because the media ends (decodes) before the duration it declares.

    Audio: turns ending after the last decoded sample. Video: turns after the last turn that got
    any frame whose frames all failed to decode (``face_status == "no_frames"``). Computed from
    the decoded audio and the table, so a re-run from the cache warns the same way.
    """
    if source.info is None or not len(table):
        return {}, []
    declared = source.info.duration
    lost: dict[str, list[int]] = {}
    warnings: list[str] = []
    starts = pd.to_numeric(table["start"], errors="coerce")
    ends = pd.to_numeric(table["end"], errors="coerce")
    fix = "Re-copy or re-export the complete recording and analyse it again."
    if source.audio is not None and declared - source.audio.duration > TRUNCATION_TOLERANCE:
        audio_end = source.audio.duration
        hit = table.loc[ends > audio_end + 0.5, "turn_index"].astype(int).tolist()
        if hit:
            lost["voice"] = hit
            warnings.append(
                f"The audio decodes to {audio_end:.1f} s of the {declared:.1f} s the file declares "
                f"(truncated?): {len(hit)} client turn(s) lost all or part of their voice values "
                f"(turns {_list(hit)}). {fix}"
            )
    if source.has_video and "face_status" in table:
        status = table["face_status"].astype(str)
        got = starts[~status.isin(["no_frames", "no_video", "no_times"])]
        last = float(got.max()) if got.notna().any() else float("-inf")
        gone = (status == "no_frames") & (starts > last) & (starts < declared - TRUNCATION_TOLERANCE)
        hit = table.loc[gone, "turn_index"].astype(int).tolist()
        if hit:
            lost["face"] = hit
            warnings.append(
                f"The video stops decoding before the {declared:.1f} s the file declares (truncated?): "
                f"{len(hit)} client turn(s) lost their face values (turns {_list(hit)}). {fix}"
            )
    return lost, warnings


def _list(xs: list[int], n: int = 8) -> str:
    return ", ".join(map(str, xs[:n])) + (f", ... ({len(xs)} in all)" if len(xs) > n else "")


def responder_from_config(config: AnalysisConfig) -> Any:
    """The :class:`~congruence.generation.respond.Responder` that ``config.respond`` describes."""
    from congruence.generation.respond import Responder

    try:
        return Responder(**config.respond)
    except TypeError as exc:
        raise CongruenceError(
            f"Unknown setting in the [respond] config section: {exc}.",
            "Use Responder's options: strategy, backend, backend_options, n_samples, temperature, "
            "max_tokens, seed, retry_budget, context_turns.",
        ) from None


def build_table(
    session: Session, pairs: list[DialoguePair], store: JsonlStore, unit_keys: Callable[[Any], list[str]]
) -> pd.DataFrame:
    """One row per client turn: index columns, transcript fields, stored modality values, and
    the E-THER annotation fields (present and empty until a rater fills them)."""
    rows = []
    for p in pairs:
        c = p.client
        rec: dict[str, Any] = {}
        for key in unit_keys(c):
            rec.update(store.get(key) or {})
        rec.pop("key", None)
        row = {
            "session_id": session.session_id,
            "turn_index": c.index,
            "start": c.start,
            "end": c.end,
            "pair_index": p.index,
            "speaker": c.speaker,
            "role": str(c.role),
            "text": c.text,
            "counsellor_text": p.counsellor.text if p.counsellor else None,
            "counsellor_start": p.counsellor.start if p.counsellor else None,
            "counsellor_end": p.counsellor.end if p.counsellor else None,
            **rec,
        }
        for k, v in asdict(p.annotation).items():
            row[f"ann_{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def write_outputs(
    result: AnalysisResult, out: Path, *, info: media_mod.MediaInfo | None, config: AnalysisConfig
) -> dict[str, str]:
    """Write the turn table (Parquet, CSV), the transcript with roles and the JSON summary."""
    summary = {
        "congruence_version": __version__,
        "session_id": result.session.session_id,
        "media": asdict(info) if info is not None else None,
        "roles": {k: str(v) for k, v in result.session.roles.items()},
        "turns": [
            {
                "index": t.index,
                "speaker": t.speaker,
                "role": str(t.role),
                "start": t.start,
                "end": t.end,
                "text": t.text,
            }
            for t in result.session.turns
        ],
        "stats": result.stats,
        "warnings": result.warnings,
        "config": config.to_dict(),
    }
    return turn_table.write(out, result.table, result.provenance, summary)
