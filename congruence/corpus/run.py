"""`corpus analyze`: many sessions on a Ray pool of workers, each session exactly `congruence analyze`.

Each worker is a Ray actor holding one set of :class:`~congruence.pipeline.jobs.Analyzers`, so
its models load once and serve every session it is given. The driver (this process) keeps at most
one session in flight per worker, writes ``DIR/corpus.json`` atomically after every session and
copies each finished session's table into the corpus dataset
(:func:`congruence.table.write_corpus_partition`).

Failures: an error inside a session (corrupt media, bad transcript) is returned by the worker and
recorded with its reason. A worker process that dies mid-session is restarted by Ray (every time:
``max_restarts=-1``, so an earlier session's crash does not use up a later one's retry) and the
session retried on it once (``max_task_retries=1``); a second death records the session as failed
and a fresh worker takes the dead one's place.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from congruence import table as turn_table
from congruence.config import AnalysisConfig
from congruence.corpus.sources import Problem, SessionSource, is_uri, load_sources
from congruence.errors import CongruenceError
from congruence.io import write_json
from congruence.version import __version__

#: statuses of a session in ``corpus.json``
DONE, FAILED, PENDING, RUNNING = turn_table.DONE, "failed", "pending", "running"
#: the worker writes its process id here when it starts a session (which process to look at)
WORKER_PID_FILE = "worker.pid"

#: ``event(kind, session_id, record)``: kind is "planned" (record: counts), "problem", "skipped",
#: "started", "done" or "failed"
Event = Callable[[str, str, dict[str, Any]], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SessionWorker:
    """A Ray actor's state: one config and its analyzers, reused for every session."""

    def __init__(self, config: AnalysisConfig, respond: bool) -> None:
        from congruence.pipeline.jobs import Analyzers

        os.environ.setdefault("CONGRUENCE_NO_PROGRESS", "1")
        self.config, self.respond = config, respond
        self.analyzers = Analyzers(config)
        self.responder: Any | None = None  # built on the first session that needs it, then kept

    def pid(self) -> int:
        return os.getpid()

    def analyze(self, source: dict[str, Any], out_dir: str) -> dict[str, Any]:
        """Analyse one session into ``out_dir``; errors come back as a record, never raised (so
        Ray retries only a dead process, not a bad input)."""
        import resource

        from congruence.analyze import analyze

        out = Path(out_dir)
        (out / ".cache").mkdir(parents=True, exist_ok=True)
        (out / ".cache" / WORKER_PID_FILE).write_text(str(os.getpid()))
        t0 = time.perf_counter()
        rec: dict[str, Any] = {"worker_pid": os.getpid()}
        try:
            media, transcript = (stage(source[k], out / ".cache" / "inputs") for k in ("media", "transcript"))
            if self.respond and self.responder is None:
                from congruence.pipeline.run import responder_from_config

                self.responder = responder_from_config(self.config)  # the reply model loads once per worker
            result = analyze(
                media,
                transcript=transcript,
                out_dir=out,
                config=self.config,
                roles=source.get("roles"),
                session_id=source["session_id"],
                respond=self.respond,
                analyzers=self.analyzers,
                responder=self.responder,
            )
            rec |= {
                "status": DONE,
                "client_turns": result.stats["client_turns"],
                "turns": result.stats["turns"],
                "from_cache": result.stats["from_cache"],
                "media_seconds": result.stats["media_seconds"],
                "warnings": result.warnings,
            }
        except CongruenceError as exc:
            rec |= {"status": FAILED, "reason": exc.problem + (f" {exc.fix}" if exc.fix else "")}
        except Exception as exc:  # a corrupt file can raise anything from a decoder: record, go on
            rec |= {"status": FAILED, "reason": f"{exc.__class__.__name__}: {exc}"}
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        rec["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return rec


def stage(path: str | None, folder: Path) -> str | None:
    """A local path for ``path``: itself, or for a ``pyarrow.fs`` URI (``s3://``, ``gs://``,
    ``hdfs://``, ``file://``) a copy fetched into ``folder`` once (kept while the file's size and
    modification time are unchanged). The analysis cache is keyed by content, so a copy analyses
    like the original."""
    if path is None or not is_uri(path):
        return path
    import pyarrow.fs as pafs

    try:
        fs, inner = pafs.FileSystem.from_uri(path)
        info = fs.get_file_info(inner)
    except (OSError, ValueError) as exc:
        raise CongruenceError(f"Cannot open {path} ({exc}).", "Check the URI and the credentials.") from None
    if info.type != pafs.FileType.File:
        raise CongruenceError(f"No file at {path}.", "Check the URI.")
    local = folder / f"{info.size}-{int(info.mtime_ns or 0)}-{Path(inner).name}"
    if not local.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + ".part")
        with fs.open_input_stream(inner) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        tmp.replace(local)
    return str(local)


@dataclass
class CorpusResult:
    """What :func:`analyze_corpus` did: the manifest written and this run's counts."""

    root: Path
    manifest: dict[str, Any]
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def sessions(self) -> dict[str, dict[str, Any]]:
        return self.manifest["sessions"]

    def count(self, status: str) -> int:
        return sum(r.get("status") == status for r in self.sessions.values())


def _load_manifest(root: Path) -> dict[str, Any]:
    if turn_table.is_corpus(root):
        return turn_table.read_corpus_manifest(root)
    return {"sessions": {}}


def _save(root: Path, manifest: dict[str, Any]) -> None:
    manifest["updated"] = _now()
    write_json(root / turn_table.CORPUS_FILE, manifest)


def _finished(root: Path, sid: str, rec: dict[str, Any], config_digest: str) -> bool:
    return (
        rec.get("status") == DONE
        and rec.get("config") == config_digest
        and (root / turn_table.CORPUS_SESSIONS / sid / turn_table.TABLE_FILE).is_file()
        and turn_table.corpus_partition(root, sid).is_dir()
    )


def plan(
    sources: list[SessionSource], root: Path, manifest: dict[str, Any], config_digest: str, retry_failed: bool
) -> tuple[list[SessionSource], list[str]]:
    """(sessions to run, finished or failed ones to skip): a finished session with the same config
    is skipped; a failed one only runs again with ``retry_failed``."""
    todo, skip = [], []
    for s in sources:
        rec = manifest["sessions"].get(s.session_id, {})
        inputs_same = all(rec.get(k) == v for k, v in s.as_dict().items())
        failed = rec.get("status") == FAILED and rec.get("config") == config_digest and not retry_failed
        if inputs_same and (failed or _finished(root, s.session_id, rec, config_digest)):
            skip.append(s.session_id)
        else:
            todo.append(s)
    return todo, skip


def _init_ray(workers: int, address: str | None, verbose: bool) -> bool:
    """Start (or join) Ray quietly; True when this call started it (so it shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    level = logging.INFO if verbose else logging.ERROR
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if not verbose:
        for name in ("ray", "ray.data", "ray.tune"):
            logging.getLogger(name).setLevel(logging.ERROR)
    kwargs: dict[str, Any] = {"logging_level": level, "log_to_driver": verbose}
    if address is None:
        kwargs |= {"num_cpus": workers, "include_dashboard": False}
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise CongruenceError(
            f"Cannot start or join Ray ({'local' if address is None else address}): {exc}.",
            "Without --address a local Ray instance is started; with --address auto run `ray start --head` "
            "first, or give ray://HOST:10001 of the head node.",
        ) from None
    return True


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def analyze_corpus(
    source: str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    address: str | None = None,
    config: AnalysisConfig | None = None,
    respond: bool = False,
    retry_failed: bool = False,
    verbose: bool = False,
    on_event: Event | None = None,
) -> CorpusResult:
    """Analyse every session of ``source`` (a folder or a CSV / JSONL manifest) into ``out``.

    ``out/sessions/<session_id>/`` is each session's `congruence analyze` folder (same cache, same
    resume), ``out/turns/`` the corpus table as a Parquet dataset partitioned by session and
    ``out/corpus.json`` every session's status, reason, counts and timings (written atomically
    after every session, so Ctrl-C keeps everything finished). ``workers``: Ray actors, each one
    session at a time (default: the machine's cores, or the cluster's CPUs); ``address``: an
    existing Ray cluster (``"auto"`` or ``"ray://HOST:PORT"``) instead of a local instance.
    """
    t0 = time.perf_counter()
    config = config or AnalysisConfig()
    if workers is not None and workers < 1:
        raise CongruenceError(f"--workers must be at least 1, got {workers}.", "e.g. --workers 2")
    emit = on_event or (lambda kind, sid, rec: None)
    root = Path(out)
    sources, problems = load_sources(source, exclude=root)
    manifest = _load_manifest(root)
    digest = config.digest() + (":respond" if respond else "")
    manifest |= {
        "format": 1,
        "congruence_version": __version__,
        "source": str(Path(source).resolve()),
        "config": config.to_dict(),
        "problems": [p.as_dict() for p in problems],
    }
    for p in problems:
        emit("problem", p.session_id or p.origin, p.as_dict())
    todo, skipped = plan(sources, root, manifest, digest, retry_failed)
    emit("planned", "", {"sessions": len(sources), "todo": len(todo)})
    for sid in skipped:
        emit("skipped", sid, manifest["sessions"][sid])
    for s in todo:
        manifest["sessions"][s.session_id] = {**s.as_dict(), "status": PENDING, "config": digest}
        _drop_partition(root, s.session_id)  # a re-run's table replaces the old one, never mixes
    root.mkdir(parents=True, exist_ok=True)
    _save(root, manifest)
    result = CorpusResult(root=root, manifest=manifest, skipped=skipped)
    if todo:  # a corpus with nothing left to do starts neither Ray nor a model
        _run(todo, root, manifest, config, respond, workers, address, verbose, emit, result)
    result.seconds = time.perf_counter() - t0
    return result


def _drop_partition(root: Path, sid: str) -> None:
    part = turn_table.corpus_partition(root, sid)
    if part.is_dir():
        shutil.rmtree(part)


def _run(
    todo: list[SessionSource],
    root: Path,
    manifest: dict[str, Any],
    config: AnalysisConfig,
    respond: bool,
    workers: int | None,
    address: str | None,
    verbose: bool,
    emit: Event,
    result: CorpusResult,
) -> None:
    import ray
    from ray.exceptions import RayActorError

    started_ray = _init_ray(workers or default_workers(), address, verbose)
    if workers is None:  # a cluster offers all its CPUs; a local instance the machine's cores
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = min(workers, len(todo))
    # glibc gives each of Ray's threads its own malloc arena, and a worker's memory then grew by
    # ~20 MB per session (bench_corpus); two arenas keep it flat, as in a plain loop
    env = {"MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2")}
    actor_cls: Any = ray.remote(
        num_cpus=1, max_restarts=-1, max_task_retries=1, runtime_env={"env_vars": env}
    )(SessionWorker)

    pids: dict[str, int] = {}  # actor id -> its process, to tell a restarted worker

    def new_workers(n: int) -> list[Any]:
        made = [actor_cls.remote(config, respond) for _ in range(n)]
        for w, pid in zip(made, ray.get([w.pid.remote() for w in made]), strict=True):
            pids[w._actor_id.hex()] = pid
        return made

    idle = new_workers(workers)
    queue = list(todo)
    running: dict[Any, tuple[SessionSource, Any, float]] = {}
    sessions = manifest["sessions"]
    try:
        while queue or running:
            while queue and idle:  # at most one session per worker in flight: bounded memory
                s = queue.pop(0)
                worker = idle.pop()
                out_dir = root / turn_table.CORPUS_SESSIONS / s.session_id
                ref = worker.analyze.remote(s.as_dict(), str(out_dir))
                running[ref] = (s, worker, time.perf_counter())
                sessions[s.session_id] |= {
                    "status": RUNNING,
                    "started": _now(),
                    "worker_pid": pids[worker._actor_id.hex()],
                }
                emit("started", s.session_id, sessions[s.session_id])
            ready, _ = ray.wait(list(running), num_returns=1)
            ref = ready[0]
            s, worker, t_sub = running.pop(ref)
            rec = sessions[s.session_id]
            try:
                got = ray.get(ref)
                idle.append(worker)
            except RayActorError as exc:  # died, was restarted and retried, died again
                got = {
                    "status": FAILED,
                    "reason": "the worker process died twice while analysing this session (killed, or out "
                    f"of memory?): {str(exc).splitlines()[0][:300]}",
                }
                ray.kill(worker, no_restart=True)
                idle += new_workers(1)
            first_pid = rec.get("worker_pid")
            rec.pop("reason", None)
            rec |= got
            rec["wall_seconds"] = round(time.perf_counter() - t_sub, 3)
            rec["finished"] = _now()
            if got.get("status") == DONE:
                try:
                    analysis = turn_table.read(root / turn_table.CORPUS_SESSIONS / s.session_id)
                    turn_table.write_corpus_partition(root, analysis.table, analysis.provenance)
                except (CongruenceError, OSError, ValueError) as exc:
                    rec |= {
                        "status": FAILED,
                        "reason": f"the session's table cannot be copied into the corpus: {exc}",
                    }
            # Ray restarted the worker and retried the session on it (or it died twice)
            rec["worker_restarted"] = "worker_pid" not in got or got["worker_pid"] != first_pid
            if "worker_pid" in got:
                pids[worker._actor_id.hex()] = got["worker_pid"]
            result.ran.append(s.session_id)
            _save(root, manifest)  # after every session: Ctrl-C or a crash loses nothing finished
            emit(rec["status"], s.session_id, rec)
    except KeyboardInterrupt:
        for s, _, _ in running.values():
            sessions[s.session_id]["status"] = PENDING
        _save(root, manifest)
        raise
    finally:
        if started_ray:
            ray.shutdown()


__all__ = [
    "DONE",
    "FAILED",
    "PENDING",
    "RUNNING",
    "CorpusResult",
    "Problem",
    "SessionWorker",
    "analyze_corpus",
    "plan",
]
