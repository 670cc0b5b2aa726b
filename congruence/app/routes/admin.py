"""The admin JSON API: accounts, imports, assignments, validation samples, settings, exports."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from congruence.app import exporting, importing, store
from congruence.app.auth import hash_new_password
from congruence.app.routes.common import Admin, Ctx, OptionalId, attachment
from congruence.app.schemas import AssignIn, SampleIn, SettingsIn, UserIn, UserPatch
from congruence.errors import CongruenceError

router = APIRouter(prefix="/api/admin")

Username = Annotated[str, Path(max_length=64)]
#: Uploads bypass the app's JSON body limit here; :func:`read_upload` applies ``max_upload_bytes``.
UPLOAD_ROUTE_LIMIT = 2**40


async def read_upload(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes."""
    too_large = importing.UploadTooLarge(
        f"The upload is larger than {limit // (1024 * 1024)} MiB.",
        "Upload a smaller file, or raise --max-upload-mb.",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise too_large
    return bytes(buf)


@router.get("/users")
def api_users(a: Admin, st: Ctx) -> list[dict[str, Any]]:
    with st.db.read() as s:
        return store.list_users(s)


@router.post("/users", status_code=201)
def api_create_user(body: UserIn, a: Admin, st: Ctx) -> dict[str, Any]:
    from congruence.app.security import check_username

    check_username(body.username)
    hashed = hash_new_password(body.password, config=st.config, username=body.username)  # outside the lock
    with st.db.write() as s:
        u = store.create_user(
            s, body.username, body.password, body.role, config=st.config, password_hash=hashed
        )
        return {"username": u.username, "role": u.role, "active": u.active}


@router.patch("/users/{username}")
def api_patch_user(username: Username, body: UserPatch, a: Admin, st: Ctx) -> dict[str, Any]:
    if username == a.user.username and body.active is False:
        raise store.Forbidden("You cannot deactivate your own account.", "Ask another admin.")
    hashed = None
    if body.password is not None:
        hashed = hash_new_password(body.password, config=st.config, username=username)
    with st.db.write() as s:
        u = store.update_user(
            s, username, config=st.config, active=body.active, password=body.password, password_hash=hashed
        )
        result = {"username": u.username, "role": u.role, "active": u.active}
    if body.password is not None:
        st.throttle.forget_account(username)  # a reset password ends a lockout of the name
    return result


@router.get("/progress")
def api_progress(a: Admin, st: Ctx) -> list[dict[str, Any]]:
    with st.db.read() as s:
        return store.progress(s)


@router.get("/sessions")
def api_sessions(a: Admin, st: Ctx) -> list[dict[str, Any]]:
    with st.db.read() as s:
        return store.list_sessions(s)


@router.post("/import/session", status_code=201, max_body_size=UPLOAD_ROUTE_LIMIT)
async def api_import_session(
    request: Request, a: Admin, st: Ctx, session_id: Annotated[str | None, Query(max_length=200)] = None
) -> dict[str, Any]:
    data = await read_upload(request, st.config.max_upload_bytes)

    def work() -> dict[str, Any]:
        with importing.unpacked_session_zip(data, max_bytes=st.config.max_upload_bytes) as folder:
            parsed = importing.read_analysed_session(folder, session_id=session_id or None)
        with st.db.write() as s:
            return store.import_session(s, parsed)

    return await run_in_threadpool(work)


@router.post("/import/responses", status_code=201, max_body_size=UPLOAD_ROUTE_LIMIT)
async def api_import_responses(
    request: Request,
    a: Admin,
    st: Ctx,
    filename: Annotated[str, Query(max_length=300)] = "responses.jsonl",
    system: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    data = await read_upload(request, st.config.max_upload_bytes)

    def work() -> dict[str, Any]:
        rows = importing.parse_responses(data, importing.response_format(filename), system=system or None)
        with st.db.write() as s:
            return store.import_responses(s, rows, source=FsPath(filename).name)

    return await run_in_threadpool(work)


@router.post("/assign")
def api_assign(body: AssignIn, a: Admin, st: Ctx) -> dict[str, Any]:
    with st.db.write() as s:
        return store.assign(s, body.usernames, session_ids=body.session_ids, kind=body.kind, mode=body.mode)


@router.post("/samples", status_code=201)
def api_sample(body: SampleIn, a: Admin, st: Ctx) -> dict[str, Any]:
    with st.db.write() as s:
        return store.create_validation_sample(
            s, share=body.share, seed=body.seed, experts=body.experts, created_by=a.user
        )


@router.get("/samples")
def api_samples(a: Admin, st: Ctx) -> list[dict[str, Any]]:
    with st.db.read() as s:
        return store.validation_samples(s)


@router.get("/agreement")
def api_agreement(a: Admin, st: Ctx, sample_id: OptionalId = None) -> dict[str, Any]:
    with st.db.read() as s:
        return store.agreement_report(s, sample_id=sample_id)


@router.get("/settings")
def api_settings(a: Admin, st: Ctx) -> dict[str, str]:
    with st.db.read() as s:
        return store.effective_settings(s, st.config)


@router.put("/settings")
def api_put_settings(body: SettingsIn, a: Admin, st: Ctx) -> dict[str, str]:
    with st.db.write() as s:
        for key, value in body.model_dump(exclude_none=True).items():
            store.set_setting(s, key, value)
        return store.effective_settings(s, st.config)


@router.get("/export/annotations")
def api_export_annotations(
    a: Admin,
    st: Ctx,
    format: Annotated[str, Query(max_length=20)] = "csv",
    mode: Annotated[str, Query(max_length=20)] = "final",
) -> Response:
    if format not in exporting.FORMATS or mode not in ("final", "all"):
        raise CongruenceError(
            "Unknown export format or mode.", "format: csv, parquet, json; mode: final, all."
        )
    with st.db.read() as s:
        df = exporting.annotations_table(s, mode=mode)  # type: ignore[arg-type]
    data, media_type = exporting.to_bytes(df, format)
    return Response(data, media_type=media_type, headers=attachment(f"annotations-{mode}.{format}"))


@router.get("/export/ratings")
def api_export_ratings(a: Admin, st: Ctx, format: Annotated[str, Query(max_length=20)] = "csv") -> Response:
    if format not in ("csv", "json"):
        raise CongruenceError("Ratings export as csv or json.", "Pass format=csv or format=json.")
    with st.db.read() as s:
        df = exporting.ratings_table(s)
    data, media_type = exporting.to_bytes(df, format)
    return Response(data, media_type=media_type, headers=attachment(f"ratings.{format}"))
