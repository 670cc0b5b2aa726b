"""`analyze`: a recorded session in, a per-turn multimodal affect table out.

Stages: probe the media -> turns (from a transcript, or ASR + diarization) -> roles and merging ->
per client turn: text, voice and face analyzers -> session-level normalisation -> outputs.

Per-turn results go to an append-only store keyed by the media's content hash, the turn (times
and words) and the analyzers' configuration, so a re-run skips finished turns and a run killed
halfway resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from congruence import __version__
from congruence.config import AnalysisConfig, ModalityConfig
from congruence.errors import CongruenceError
from congruence.incongruence.pairs import PAIRS, score_table
from congruence.ingest import media as media_mod
from congruence.ingest.transcripts import UNKNOWN_SPEAKER, read_transcript
from congruence.ingest.turns import assign_roles, check_times, merge_consecutive, parse_roles
from congruence.io import JsonlStore, atomic_path, file_digest, text_digest, write_atomic, write_json
from congruence.perception.base import Audio, Features, Frame
from congruence.provenance import Kind, Provenance
from congruence.registry import create
from congruence.schema import Role, Session, Turn, Word

Progress = Callable[[str, int, int], None]

#: Columns that identify a row, like audinterface's (file, start, end) index.
INDEX_COLUMNS = ["session_id", "turn_index", "start", "end"]
BASE_PROVENANCE = {
    "speaker": Provenance("transcript", Kind.MEASUREMENT),
    "text": Provenance("transcript", Kind.MEASUREMENT),
    "face_key_crop_file": Provenance(
        "key-frame-crop", Kind.MEASUREMENT, "client's face at the E-THER key frame"
    ),
}


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


def frame_times(turn: Turn, config: AnalysisConfig) -> list[float]:
    """Sample times of one client turn: the key frame plus ``sample_fps`` across the turn.

    Capped at ``max_frames_per_turn`` evenly spread samples so long monologues cost a bounded
    amount of work and memory.
    """
    assert turn.start is not None and turn.end is not None
    start, end = turn.start, max(turn.end, turn.start)
    n = max(1, min(config.max_frames_per_turn, math.ceil((end - start) * config.sample_fps)))
    times = list(np.linspace(start, end, n, endpoint=False) + (end - start) / (2 * n))
    key = min(end, start + config.key_frame_offset)
    return sorted({round(float(t), 3) for t in [*times, key]})


def _create_analyzer(family: str, cfg: ModalityConfig) -> Any:
    return create(family, cfg.name, **cfg.options)


class _Analyzers:
    """The three modality analyzers, created lazily so a text-only run loads no vision model."""

    def __init__(self, config: AnalysisConfig) -> None:
        self.config = config
        self._made: dict[str, Any] = {}

    def get(self, modality: str) -> Any:
        if modality not in self._made:
            self._made[modality] = _create_analyzer(f"{modality}.analyzer", getattr(self.config, modality))
        return self._made[modality]

    def enabled(self) -> list[str]:
        return [m for m in ("text", "voice", "face") if getattr(self.config, m).enabled]


def _turns_from_transcript(
    path: str, duration: float | None, config: AnalysisConfig
) -> tuple[list[Turn], list[str]]:
    turns, warnings = read_transcript(path)
    turns, more = check_times(turns, duration)
    return merge_consecutive(turns, max_gap=config.merge_max_gap), warnings + more


def _turns_from_asr(
    audio_path: Path, work: Path, media_key: str, config: AnalysisConfig, progress: Progress
) -> tuple[list[Turn], list[str]]:
    """Turns from Whisper ASR (word timestamps) and resemblyzer diarization, cached per media."""
    from congruence.ingest.asr import transcribe
    from congruence.ingest.diarize import Diarizer

    cache = work / f"asr-{text_digest(media_key, config.asr_model, config.num_speakers)}.json"
    if cache.exists():
        turns = [
            Turn(**{**t, "words": [Word(**w) for w in t["words"]]}) for t in json.loads(cache.read_text())
        ]
    else:
        audio = media_mod.AudioFile(audio_path).read_all()
        progress("transcribing (ASR)", 0, 2)
        segments = transcribe(audio, model=config.asr_model)
        progress("diarizing speakers", 1, 2)
        turns = Diarizer(num_speakers=config.num_speakers).diarize(audio, segments) if segments else []
        progress("diarizing speakers", 2, 2)
        write_json(cache, [asdict(t) for t in turns])
    turns = merge_consecutive([t for t in turns if t.text.strip()], max_gap=config.merge_max_gap)
    if not turns:
        raise CongruenceError(
            "No speech was recognised in the recording, so there are no turns to analyse.",
            "Check the audio track, or pass a transcript with --transcript.",
        )
    return turns, ["Turns come from ASR and speaker diarization (Whisper tiny.en level errors); check them."]


def _route_frames(frames: Iterator[Frame], turns: Sequence[Turn]) -> Iterator[tuple[Turn, list[Frame]]]:
    """Group one forward pass of frames into the turns (sorted by start) they fall in."""
    pending: Frame | None = None
    for turn in turns:
        got: list[Frame] = []
        while True:
            f = pending if pending is not None else next(frames, None)
            pending = None
            if f is None:
                break
            if f.time > turn.end + 1e-3:  # type: ignore[operator]
                pending = f
                break
            if f.time >= turn.start - 1e-3:  # type: ignore[operator]
                got.append(f)
        yield turn, got


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _prefetch(items: Iterator[Frame], *, maxsize: int) -> Iterator[Frame]:
    """Iterate ``items`` in a background thread, at most ``maxsize`` items ahead of the consumer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
    stop = threading.Event()
    end = object()

    def put(x: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for x in items:
                if not put(x):
                    return
            put(end)
        except BaseException as exc:  # handed to the consumer, re-raised there
            put(_Raised(exc))

    worker = threading.Thread(target=work, name="congruence-decode", daemon=True)
    worker.start()
    try:
        while (x := q.get()) is not end:
            if isinstance(x, _Raised):
                raise x.exc
            yield x
    finally:
        stop.set()


def _flatten(feats: Features) -> dict[str, Any]:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in feats.values.items()}


def _unit_keys(config: AnalysisConfig, modalities: list[str], media_key: str) -> Callable[[Turn, str], str]:
    """Cache key of one modality's result for one turn: media content, turn, that modality's config.

    Per modality, so changing the voice settings recomputes voice only. ``parallel`` changes speed,
    not results, and is not part of any key.
    """
    sampling = (
        config.sample_fps,
        config.max_frames_per_turn,
        config.key_frame_offset,
        config.max_frame_width,
    )
    cfg = {
        m: text_digest(__version__, asdict(getattr(config, m)), sampling if m == "face" else None)
        for m in modalities
    }

    def key(turn: Turn, modality: str) -> str:
        return text_digest(media_key, modality, cfg[modality], turn.start, turn.end, turn.text)

    return key


@dataclass
class _ModalityJobs:
    """Runs text, voice and face over the client turns that still need them, storing as it goes.

    With ``config.parallel`` text and voice run in worker threads while the face runs in the
    calling thread (and frames decode in another): model loading overlaps analysis, and the native
    libraries (openSMILE, Praat, TFLite, FFmpeg, torch) do most of their work outside the GIL. The
    first exception (or Ctrl-C) stops every job at its next turn; finished turns stay stored.
    """

    config: AnalysisConfig
    analyzers: _Analyzers
    store: JsonlStore
    unit_key: Callable[[Turn, str], str]
    progress: Progress
    totals: dict[str, tuple[int, int]]
    media: Path
    info: media_mod.MediaInfo
    audio_file: media_mod.AudioFile | None
    frames_dir: Path
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, todo: dict[str, list[Turn]]) -> None:
        for m, (done, total) in self.totals.items():
            self.progress(m, done, total)
        jobs = {"text": self._text, "voice": self._voice, "face": self._face}
        work = [(m, turns) for m, turns in todo.items() if turns]
        if not self.config.parallel:
            for m, turns in work:
                jobs[m](turns)
            return
        main = [(m, t) for m, t in work if m == "face"]
        rest = [(m, t) for m, t in work if m != "face"]
        with ThreadPoolExecutor(max_workers=max(1, len(rest))) as pool:
            futures = [pool.submit(jobs[m], turns) for m, turns in rest]
            try:
                for m, turns in main:
                    jobs[m](turns)
                for f in as_completed(futures):
                    f.result()
            except BaseException:
                self._stop.set()
                raise

    def _put(self, modality: str, turn: Turn, values: dict[str, Any]) -> None:
        with self._lock:
            self.store.put(self.unit_key(turn, modality), {"turn_index": turn.index, **values})
            done, total = self.totals[modality]
            self.totals[modality] = (done + 1, total)
        self.progress(modality, done + 1, total)

    def _text(self, turns: list[Turn]) -> None:
        an = self.analyzers.get("text")
        many = getattr(an, "analyze_many", None)
        for i in range(0, len(turns), 64):  # batches: fast, and stored as they finish
            if self._stop.is_set():
                return
            chunk = turns[i : i + 64]
            feats = many([t.text for t in chunk]) if many else [an.analyze_turn(t.text) for t in chunk]
            for t, f in zip(chunk, feats, strict=True):
                self._put("text", t, _flatten(f))

    def _voice(self, turns: list[Turn]) -> None:
        an = self.analyzers.get("voice")
        for t in turns:
            if self._stop.is_set():
                return
            audio: Audio | None = None
            if self.audio_file is not None and t.start is not None and t.end is not None:
                audio = self.audio_file.segment(t.start, t.end)
            self._put("voice", t, _flatten(an.analyze_turn(audio, text=t.text)))

    def _face(self, turns: list[Turn]) -> None:
        timed = sorted((t for t in turns if t.start is not None and t.end is not None), key=lambda t: t.start)
        for t in turns:
            if t not in timed or not self.info.has_video:
                self._put("face", t, {"face_status": "no_video" if not self.info.has_video else "no_times"})
        if not timed or not self.info.has_video:
            return
        an = self.analyzers.get("face")
        times = [x for t in timed for x in frame_times(t, self.config)]
        frames: Iterator[Frame] = media_mod.iter_frames(
            self.media, times, max_width=self.config.max_frame_width
        )
        if self.config.parallel:  # decode ahead in a thread; bounded so memory stays flat
            frames = _prefetch(frames, maxsize=self.config.max_frames_per_turn + 1)
        # one turn's frames at a time: memory does not grow with the session
        for t, got in _route_frames(frames, timed):
            if self._stop.is_set():
                return
            key_time = min(t.end, t.start + self.config.key_frame_offset)  # type: ignore[operator]
            feats = an.analyze_turn(got, key_time)
            values = _flatten(feats)
            crop = feats.artifacts.get("key_crop")
            if crop is not None:
                values["face_key_crop_file"] = _save_crop(crop, self.frames_dir / f"turn{t.index:04d}.png")
            self._put("face", t, values)


def analyze(
    media: str | Path,
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
) -> AnalysisResult:
    """Analyse a recorded session into a per-client-turn affect table.

    Args:
        media: video (mp4, mkv, webm, mov) or audio (wav, flac, mp3, m4a) of the session.
        transcript: SRT, WebVTT, CSV/TSV or JSON transcript; without one, turns come from ASR
            with word timestamps and speaker diarization.
        out_dir: where ``turns.parquet``, ``turns.csv``, ``summary.json`` and the result cache go
            (default: ``<media stem>.congruence/`` beside the media).
        config: estimator names and sampling settings (defaults: the embedded offline models).
        roles: override of the role assignment, e.g. ``"S1=client,S2=counsellor"``.
        progress: ``callback(stage, done, total)``.
        report: also write the self-contained HTML report (``report.html``).
        blur_faces: blur the face thumbnails in the report (the original pixels never reach it).
        respond: add a person-centred reply per client turn (``response_*`` columns; E-THER's
            collection protocol through :class:`~congruence.generation.respond.Responder`, set
            up by ``config.respond``); replies are stored as they finish and a re-run resumes.
    """
    t_start = time.perf_counter()
    config = config or AnalysisConfig()
    progress = progress or _noop
    responder = _responder(config) if respond else None  # bad settings fail before any work
    media = Path(media)
    info = media_mod.probe(media)
    out = Path(out_dir) if out_dir is not None else media.with_name(media.stem + ".congruence")
    work = out / ".cache"
    work.mkdir(parents=True, exist_ok=True)
    session_id = session_id or media.stem
    warnings: list[str] = []

    progress("hashing media", 0, 1)
    media_key = file_digest(media)
    progress("hashing media", 1, 1)
    audio_path = work / f"audio-{media_key}.f32"
    if info.has_audio and not audio_path.exists():
        progress("decoding audio", 0, 1)
        media_mod.decode_audio_to_file(media, audio_path)
        progress("decoding audio", 1, 1)
    audio_file = media_mod.AudioFile(audio_path) if info.has_audio else None
    if not info.has_audio:
        warnings.append("The media has no audio track: voice features are missing for every turn.")
    if not info.has_video:
        warnings.append("The media has no video stream: face features are missing for every turn.")

    if transcript is not None:
        turns, more = _turns_from_transcript(str(transcript), info.duration, config)
    elif audio_file is not None:
        turns, more = _turns_from_asr(audio_path, work, media_key, config, progress)
    else:
        raise CongruenceError(
            f"{media.name} has no audio track and no transcript was given, so turns cannot be found.",
            "Pass the transcript with --transcript.",
        )
    warnings += more
    override = parse_roles(roles)
    if all(t.speaker == UNKNOWN_SPEAKER for t in turns):
        raise CongruenceError(
            "The transcript names no speakers, so client and counsellor turns cannot be told apart.",
            "Add a speaker column (CSV/JSON), 'Name: text' cue prefixes (SRT/WebVTT), or analyse without "
            "a transcript to use speaker diarization.",
        )
    turns, role_map, role_method = assign_roles(turns, {k: Role(v) for k, v in override.items()})
    session = Session(
        session_id=session_id, turns=turns, media_path=str(media), duration=info.duration, roles=role_map
    )
    pairs = session.pairs()
    if not pairs:
        raise CongruenceError(
            f"No client turns found (roles: {', '.join(f'{k}={v}' for k, v in role_map.items())}).",
            "Set the roles explicitly, e.g. --roles 'Speaker A=counsellor,Speaker B=client'.",
        )

    analyzers = _Analyzers(config)
    modalities = analyzers.enabled()
    store = JsonlStore(work / "turns.jsonl")
    unit_key = _unit_keys(config, modalities, media_key)
    clients = [p.client for p in pairs]
    todo = {m: [t for t in clients if unit_key(t, m) not in store] for m in modalities}
    n_total = len(clients)
    n_cached = sum(all(unit_key(t, m) in store for m in modalities) for t in clients)
    untimed = [t for t in clients if t.start is None or t.end is None]
    if untimed:
        warnings.append(f"{len(untimed)} client turn(s) have no times: only their words are analysed.")
    jobs = _ModalityJobs(
        config=config,
        analyzers=analyzers,
        store=store,
        unit_key=unit_key,
        progress=progress,
        totals={m: (n_total - len(todo[m]), n_total) for m in modalities},
        media=media,
        info=info,
        audio_file=audio_file,
        frames_dir=out / "frames",
    )
    jobs.run(todo)
    table = _build_table(session, pairs, store, lambda t: [unit_key(t, m) for m in modalities])
    provenance: dict[str, Provenance] = dict(BASE_PROVENANCE)
    for m in modalities:
        an = analyzers.get(m)
        provenance.update(an.columns())
        table = an.finalize(table)
    inc = config.incongruence
    t_score = time.perf_counter()
    table = score_table(table, threshold=inc.threshold, lam=inc.lam, tau_e=inc.tau_e)
    score_seconds = time.perf_counter() - t_score
    for name, *_ in PAIRS:
        note = f"{name.replace('_', '-')} pair; rule on the modalities' valence/arousal estimates"
        if name in table.attrs.get("arousal_only", []):
            note += " (arousal only: no valence estimate for one side)"
        provenance[f"{name}_score"] = Provenance("ether-continuous-score", Kind.PROXY, note)
        provenance[f"{name}_dissonance"] = Provenance(
            f"dissonance-indicator(T={inc.threshold:g})", Kind.PROXY, note
        )
        provenance[f"{name}_type"] = Provenance("ether-type-rules", Kind.PROXY, note)
    if responder is not None:
        from congruence.generation.respond import response_provenance

        # the replies' file is keyed by the client turns' words: a changed transcript starts afresh
        replies = work / f"responses-{text_digest(media_key, [t.text for t in clients])}.jsonl"
        table = responder.respond_table(table, out=replies, image_root=out, progress=progress)
        provenance.update(response_provenance(responder))
    # the finalize steps may add columns; anything the analyzers did not describe is flagged
    for col in table.columns:
        if col.startswith(("text_", "voice_", "face_")) and col not in provenance:
            provenance[col] = Provenance("unknown", Kind.PROXY, "no provenance declared")
    result = AnalysisResult(session=session, table=table, provenance=provenance, warnings=warnings)
    result.stats = {
        "turns": len(turns),
        "client_turns": n_total,
        "from_cache": n_cached,
        "seconds": round(time.perf_counter() - t_start, 3),
        "media_seconds": round(info.duration, 3),
        "roles_from": role_method,
        "tau_e": table.attrs.get("tau_e", {}),
        "scoring_seconds": round(score_seconds, 4),
    }
    result.outputs = write_outputs(result, out, info=info, config=config)
    if report:
        from congruence.reporting import write_report

        result.outputs["report"] = str(write_report(out, blur_faces=blur_faces))
    return result


def _responder(config: AnalysisConfig) -> Any:
    from congruence.generation.respond import Responder

    try:
        return Responder(**config.respond)
    except TypeError as exc:
        raise CongruenceError(
            f"Unknown setting in the [respond] config section: {exc}.",
            "Use Responder's options: strategy, backend, backend_options, n_samples, temperature, "
            "max_tokens, seed, retry_budget, context_turns.",
        ) from None


def _save_crop(crop: np.ndarray, path: Path) -> str:
    from PIL import Image

    def write(fh: Any) -> None:
        Image.fromarray(np.asarray(crop, dtype=np.uint8)).save(fh, format="PNG")

    write_atomic(path, write, binary=True)
    return f"frames/{path.name}"


def _build_table(
    session: Session, pairs: list, store: JsonlStore, unit_keys: Callable[[Turn], list[str]]
) -> pd.DataFrame:
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
        # E-THER annotation fields: present and empty until a rater fills them
        for k, v in asdict(p.annotation).items():
            row[f"ann_{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def write_outputs(
    result: AnalysisResult, out: Path, *, info: media_mod.MediaInfo, config: AnalysisConfig
) -> dict[str, str]:
    """Write the turn table (Parquet, CSV), the transcript with roles and the JSON summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = result.table
    outputs = {
        "parquet": str(out / "turns.parquet"),
        "csv": str(out / "turns.csv"),
        "summary": str(out / "summary.json"),
    }
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    fields = []
    for f in arrow.schema:
        prov = result.provenance.get(f.name)
        fields.append(f.with_metadata({"provenance": json.dumps(prov.as_dict())}) if prov else f)
    arrow = pa.Table.from_arrays(arrow.columns, schema=pa.schema(fields, metadata=arrow.schema.metadata))
    with atomic_path(outputs["parquet"]) as tmp:
        pq.write_table(arrow, tmp)
    # vectors do not belong in a spreadsheet: the CSV keeps the scalar columns
    flat = table[[c for c in table.columns if not _is_vector_column(table[c])]]
    write_atomic(outputs["csv"], lambda fh: flat.to_csv(fh, index=False))
    summary = {
        "congruence_version": __version__,
        "session_id": result.session.session_id,
        "media": {**asdict(info)},
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
        "provenance": {k: v.as_dict() for k, v in sorted(result.provenance.items())},
        "proxies": sorted(k for k, v in result.provenance.items() if v.kind is Kind.PROXY),
        "missing": {
            m: table[f"{m}_status"].value_counts(dropna=False).to_dict()
            for m in ("text", "voice", "face")
            if f"{m}_status" in table
        },
    }
    write_json(outputs["summary"], summary)
    return outputs


def _is_vector_column(s: pd.Series) -> bool:
    first = next((v for v in s if v is not None and not (isinstance(v, float) and math.isnan(v))), None)
    return isinstance(first, list | np.ndarray)


def load_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, Provenance]]:
    """Read a ``turns.parquet`` with the provenance of each column."""
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    prov = {}
    for f in t.schema:
        if f.metadata and b"provenance" in f.metadata:
            d = json.loads(f.metadata[b"provenance"])
            prov[f.name] = Provenance(d["estimator"], Kind(d["kind"]), d.get("note", ""))
    return t.to_pandas(), prov
