"""What the application does to its data, independent of HTTP: the web routes and the CLI call these.

One module per job: :mod:`.accounts` (settings, users, logins), :mod:`.imports` (sessions,
responses, assignments), :mod:`.annotations` (queues, the pair page, autosave, media),
:mod:`.ratings` (blinded rating), :mod:`.validation` (expert sample, agreement, progress) and
:mod:`.errors`; everything is re-exported here, so callers write ``store.save_annotation``.

Access rules live here, next to the queries, so no route can forget them:

- an annotator sees and saves only pairs assigned to them (``annotate``); an expert only the
  pairs of their validation reviews (``review``) and ratings (``rate``); an admin sees everything
  but annotates nothing;
- any id that is not the caller's gives :class:`NotFound` - the same answer as an id that does not
  exist, so ids cannot be probed;
- media are found by id and served only if they belong to a pair the caller may see.

Saves are idempotent and versioned (see :mod:`congruence.app.models`): ``save_annotation`` and
``save_rating`` return ``replayed=True`` for an ``op_id`` already applied and raise
:class:`Conflict` when the form was edited from an older version.
"""

from __future__ import annotations

from datetime import datetime

from congruence.app.models import utcnow
from congruence.app.store.accounts import (
    blind_secret,
    create_login,
    create_user,
    credentials,
    delete_login,
    effective_settings,
    find_login,
    get_setting,
    instance_secret,
    list_users,
    new_password_hash,
    set_setting,
    start_login,
    touch_login,
    update_user,
    user_by_name,
)
from congruence.app.store.annotations import (
    annotation_dict,
    annotation_queue,
    context,
    media_for,
    pair_view,
    reveal_estimates,
    save_annotation,
)
from congruence.app.store.errors import (
    AuthFailed,
    Conflict,
    Forbidden,
    LockedOut,
    NotFound,
)
from congruence.app.store.imports import (
    assign,
    import_responses,
    import_session,
    list_sessions,
)
from congruence.app.store.ratings import (
    blind_order,
    rating_dict,
    rating_queue,
    rating_view,
    save_rating,
)
from congruence.app.store.validation import (
    agreement_report,
    create_validation_sample,
    progress,
    validation_samples,
)

__all__ = [
    "AuthFailed",
    "Conflict",
    "Forbidden",
    "LockedOut",
    "NotFound",
    "agreement_report",
    "annotation_dict",
    "annotation_queue",
    "assign",
    "blind_order",
    "blind_secret",
    "context",
    "create_login",
    "create_user",
    "create_validation_sample",
    "credentials",
    "delete_login",
    "effective_settings",
    "find_login",
    "get_setting",
    "import_responses",
    "import_session",
    "instance_secret",
    "list_sessions",
    "list_users",
    "media_for",
    "new_password_hash",
    "now_utc",
    "pair_view",
    "progress",
    "rating_dict",
    "rating_queue",
    "rating_view",
    "reveal_estimates",
    "save_annotation",
    "save_rating",
    "set_setting",
    "start_login",
    "touch_login",
    "update_user",
    "user_by_name",
    "validation_samples",
]


def now_utc() -> datetime:
    return utcnow()
