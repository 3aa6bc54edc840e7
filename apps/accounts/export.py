"""Data export: a zip of everything a person has on Vivid, asked for once a day, kept a week.

Shape of the work:

- ``export_request`` (the API's ``POST /me/export`` and the settings page) checks the one-a-day
  rule under a lock on the person's row, creates the ``DataExport`` and, on commit, hands
  ``apps.accounts.tasks.export_build`` to the ``media`` queue through the outbox.
- ``export_build`` (the task) claims the row by writing a fresh random storage name into it, then
  streams every JSON file and every original into a zip in a temporary file: nothing is held
  whole in memory (querysets are iterated in chunks, originals are copied 64 KiB at a time, JSON
  lists are written item by item), and ZIP64 is on, so a creator's many gigabytes of video fit.
  The zip is then saved to default storage under ``exports/<user id>/<export id>-<random>.zip``.
  A second run (a redelivery after a worker died, the outbox sending twice) claims the row
  anew and starts again; the first notices at its next progress write that the row is no longer
  its own and stops, deleting what it made. So one export ends with one valid zip.
- ``exports_expire`` (Celery beat, hourly) deletes zips past ``expires_at`` and marks them
  ``expired``.

What goes in is the person's own data only: their posts, prompts (hidden ones too: they are
theirs), provenance records as the provenance API serves them to their creator, consent log and
settings, follows, their reactions and comments (someone else's post appears as an id only),
notifications, and the originals of their assets. ``manifest.json`` lists every other file with
its SHA-256 and size. Originals taken out of the Library by someone else's right (a person
depicted withdrew the use of their likeness) are left out, as they are everywhere else.

The download is a signed link (``export_link``): a capability valid ``EXPORT_LINK_TTL_S`` for
whoever holds it, so it works from a download manager or another device without a session; it
is short-lived and re-checked at every request (still succeeded, not expired, owner active).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import DataExport, User
from apps.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

Status = DataExport.Status
CHUNK = 64 * 1024
# Progress is written when it has moved this much (not per row: one UPDATE per 2 %).
PROGRESS_STEP = 0.02
# The page every "your export is ready" notice points at (a signed link would outlive itself).
EXPORT_PAGE = "/settings/data/export"
_SALT = "vivid.accounts.export"
_EXT = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
}


def _interval() -> timedelta:
    return timedelta(seconds=getattr(settings, "EXPORT_INTERVAL_S", 86_400))


def keep_period() -> timedelta:
    return timedelta(days=getattr(settings, "EXPORT_KEEP_DAYS", 7))


def link_ttl_s() -> int:
    return int(getattr(settings, "EXPORT_LINK_TTL_S", 3600))


# --- reads ------------------------------------------------------------------------------------


def export_get(*, user: User, export_id: int) -> DataExport:
    """One of the person's exports; someone else's answers exactly like a missing one."""
    found = DataExport.objects.filter(id=export_id, user_id=user.pk).first()
    if found is None:
        raise ApplicationError("not_found", _("Not found."))
    return found


def export_latest(*, user: User) -> DataExport | None:
    return DataExport.objects.filter(user_id=user.pk).order_by("-created_at", "-id").first()


def _counting(user: User):
    """Exports that use up the day's allowance: all but failed ones (a failure is not theirs)."""
    return DataExport.objects.filter(user_id=user.pk).exclude(status=Status.FAILED)


def export_next_allowed_at(*, user: User) -> datetime | None:
    """When the person may ask for their next export; None when they may now."""
    last = _counting(user).order_by("-created_at").first()
    if last is None:
        return None
    at = last.created_at + _interval()
    return at if at > timezone.now() else None


def export_is_downloadable(export: DataExport) -> bool:
    return (
        export.status == Status.SUCCEEDED
        and bool(export.file_name)
        and (export.expires_at is None or export.expires_at > timezone.now())
    )


# --- the signed link --------------------------------------------------------------------------


class LinkExpired(Exception):
    pass


class LinkInvalid(Exception):
    pass


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def export_link(export: DataExport, *, request=None) -> str:
    """A fresh signed download link (absolute when a request is given), valid
    ``EXPORT_LINK_TTL_S`` seconds for whoever holds it."""
    sig = _signer().sign(f"{export.pk}.{export.user_id}")
    path = reverse("accounts:export-download", kwargs={"export_id": export.pk})
    url = f"{path}?sig={sig}"
    return request.build_absolute_uri(url) if request is not None else url


def export_for_link(*, export_id: int, sig: str) -> DataExport:
    """The export a signed link opens: ``LinkInvalid`` when the signature is not ours or names
    another export, ``LinkExpired`` when it is older than ``EXPORT_LINK_TTL_S``, ``not_found``
    when the export cannot be downloaded (any more)."""
    signer = _signer()
    try:
        value = signer.unsign(sig)  # authenticity first, so an expired link is told apart
    except signing.BadSignature as e:
        raise LinkInvalid from e
    try:
        signed_export, signed_user = (int(part) for part in value.split("."))
    except ValueError as e:
        raise LinkInvalid from e
    if signed_export != export_id:
        raise LinkInvalid
    try:
        signer.unsign(sig, max_age=link_ttl_s())
    except signing.SignatureExpired as e:
        raise LinkExpired from e
    export = (
        DataExport.objects.filter(
            id=export_id,
            user_id=signed_user,
            user__is_active=True,
            user__deletion_requested_at__isnull=True,
        )
        .select_related("user")
        .first()
    )
    if export is None or not export_is_downloadable(export):
        raise ApplicationError("not_found", _("Not found."))
    return export


# --- writes -----------------------------------------------------------------------------------


def export_request(*, user: User) -> DataExport:
    """Ask for a new export of everything ``user`` has. At most one a day (failed ones do not
    count): sooner answers ``rate_limited`` with the seconds to wait. The build runs on the
    ``media`` queue after commit."""
    from apps.accounts import tasks
    from apps.core.outbox import send_on_commit

    with transaction.atomic():
        # One request at a time per person, so two at once cannot both pass the check.
        User.objects.select_for_update().filter(pk=user.pk).first()
        allowed_at = export_next_allowed_at(user=user)
        if allowed_at is not None:
            wait = max(1, math.ceil((allowed_at - timezone.now()).total_seconds()))
            raise ApplicationError(
                "rate_limited",
                _("You can ask for one export a day. Your last one is on the export page."),
                retry_after=wait,
            )
        export = DataExport.objects.create(user=user)
        send_on_commit(tasks.export_build, export.pk)
    return export


class Superseded(Exception):
    """Another run of the same export claimed it: this one stops and cleans up."""


def export_build(*, export_id: int) -> DataExport | None:
    """Build the zip of an export and mark it succeeded, notifying its owner.

    Safe to run twice: a finished export (succeeded, failed or expired) is left alone; otherwise
    this run claims the row (a new storage name) and starts the zip again, and an earlier run
    still going stops at its next progress write. Returns the export, or None when there was
    nothing to do."""
    claimed = _claim(export_id)
    if claimed is None:
        return None
    export, name, stale = claimed
    if stale:  # what an interrupted run may have stored
        _delete_quietly(stale)
    try:
        # On the worker's disk (FILE_UPLOAD_TEMP_DIR if set, else the system's): as large as
        # the person's originals together.
        temp_dir = getattr(settings, "FILE_UPLOAD_TEMP_DIR", None)
        with tempfile.TemporaryFile(prefix="vivid-export-", dir=temp_dir) as tmp:
            _Builder(export, name, tmp).write()
            size = tmp.seek(0, 2)
            tmp.seek(0)
            digest = hashlib.sha256()
            for chunk in iter(lambda: tmp.read(CHUNK), b""):
                digest.update(chunk)
            tmp.seek(0)
            stored = default_storage.save(name, File(tmp, name=name.rsplit("/", 1)[-1]))
    except Superseded:
        logger.info("export %s: a newer run took over", export_id)
        return None
    return _finish(
        export_id, claimed_name=name, stored=stored, size=size, sha256=digest.hexdigest()
    )


def _claim(export_id: int) -> tuple[DataExport, str, str] | None:
    with transaction.atomic():
        export = (
            DataExport.objects.select_for_update()
            .filter(id=export_id)
            .select_related("user")
            .first()
        )
        # Finished either way: a failed export is not retried behind the person's back (they
        # may ask again at once; failed exports do not count against the day).
        if export is None or export.status in (Status.SUCCEEDED, Status.FAILED, Status.EXPIRED):
            return None
        stale = export.file_name
        name = f"exports/{export.user_id}/{export.pk}-{secrets.token_urlsafe(12)}.zip"
        export.status, export.progress, export.file_name, export.error = (
            Status.RUNNING,
            0.0,
            name,
            "",
        )
        export.save(update_fields=["status", "progress", "file_name", "error"])
    return export, name, stale


def _finish(
    export_id: int, *, claimed_name: str, stored: str, size: int, sha256: str
) -> DataExport | None:
    from apps.notifications.models import Notification
    from apps.notifications.services import notice_add

    with transaction.atomic():
        export = (
            DataExport.objects.select_for_update()
            .filter(id=export_id)
            .select_related("user")
            .first()
        )
        if export is None or export.file_name != claimed_name or export.status != Status.RUNNING:
            transaction.on_commit(lambda: _delete_quietly(stored))
            return None
        now = timezone.now()
        export.status, export.progress = Status.SUCCEEDED, 1.0
        export.file_name, export.size, export.sha256 = stored, size, sha256
        export.finished_at, export.expires_at = now, now + keep_period()
        export.save(
            update_fields=[
                "status",
                "progress",
                "file_name",
                "size",
                "sha256",
                "finished_at",
                "expires_at",
            ]
        )
        notice_add(
            recipient=export.user,
            kind=Notification.Kind.ACCOUNT,
            text=(
                "Your data export is ready. Download it from the export page before "
                f"{export.expires_at:%d %b %Y}."
            ),
            link=EXPORT_PAGE,
        )
    return export


def export_fail(*, export_id: int, message: str) -> None:
    """Mark an unfinished export failed (the task's last word on an unexpected error)."""
    DataExport.objects.filter(id=export_id, status__in=[Status.QUEUED, Status.RUNNING]).update(
        status=Status.FAILED, error=message[:500], finished_at=timezone.now()
    )


def exports_expire(*, limit: int = 500) -> int:
    """Delete the zips of exports past ``expires_at`` and mark them expired. Returns how many."""
    done = 0
    with transaction.atomic():
        due = list(
            DataExport.objects.select_for_update(skip_locked=True)
            .filter(status=Status.SUCCEEDED, expires_at__lte=timezone.now())
            .order_by("expires_at")[:limit]
        )
        for export in due:
            if export.file_name:
                default_storage.delete(export.file_name)
            export.status, export.file_name = Status.EXPIRED, ""
            export.save(update_fields=["status", "file_name"])
            done += 1
    return done


def _delete_quietly(name: str) -> None:
    try:
        default_storage.delete(name)
    except Exception as e:  # a leftover file is untidy, not wrong: nothing points at it
        logger.warning("could not delete %s: %s", name, e)


# --- the zip ----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _ids(values: Iterable[Any]) -> list[str]:
    return [str(v) for v in values]


def _media_path(asset) -> str:
    return f"media/{asset.pk}.{_EXT.get(asset.mime, 'bin')}"


class _Entry:
    """A file being written into the zip: counts its bytes and hashes them on the way."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.sha256.update(data)
        self.size += len(data)
        self.stream.write(data)


@dataclass
class _File:
    path: str
    sha256: str
    size: int


class _Builder:
    """Writes one export's zip into ``out``, reporting progress on the export's row."""

    def __init__(self, export: DataExport, name: str, out) -> None:
        self.export = export
        self.user = export.user
        self.name = name
        self.out = out
        self.files: list[_File] = []
        self.total = 1.0
        self.done = 0.0
        self.reported = 0.0

    # progress

    def _tick(self, units: float = 1.0) -> None:
        self.done += units
        progress = min(self.done / self.total, 0.99)
        if progress - self.reported >= PROGRESS_STEP:
            self._report(progress)

    def _report(self, progress: float) -> None:
        updated = DataExport.objects.filter(
            id=self.export.pk, file_name=self.name, status=Status.RUNNING
        ).update(progress=progress)
        if not updated:
            raise Superseded
        self.reported = progress

    # the files

    def _open(self, zf: zipfile.ZipFile, path: str, *, compress: bool) -> Any:
        info = zipfile.ZipInfo(path, date_time=timezone.now().timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return zf.open(info, "w", force_zip64=True)

    def _json(self, zf: zipfile.ZipFile, path: str, value: Any) -> None:
        with self._open(zf, path, compress=True) as stream:
            entry = _Entry(stream)
            for piece in self._pieces(value, 0):
                entry.write(piece.encode())
        self.files.append(_File(path, entry.sha256.hexdigest(), entry.size))

    def _pieces(self, value: Any, depth: int) -> Iterator[str]:
        """JSON text of ``value`` in pieces. Lists and iterators are written item by item (each
        item one line) so a long list is never in memory whole; each item counts as progress."""
        if isinstance(value, dict):
            yield "{"
            for i, (key, item) in enumerate(value.items()):
                yield ("," if i else "") + "\n" + "  " * (depth + 1) + json.dumps(key) + ": "
                yield from self._pieces(item, depth + 1)
            yield "\n" + "  " * depth + "}"
        elif isinstance(value, list | tuple | Iterator):
            yield "["
            empty = True
            for i, item in enumerate(value):
                empty = False
                yield ("," if i else "") + "\n" + "  " * (depth + 1)
                yield json.dumps(item, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)
                self._tick()
            yield "]" if empty else "\n" + "  " * depth + "]"
        else:
            yield json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
        if depth == 0:
            yield "\n"

    def _original(self, zf: zipfile.ZipFile, asset) -> None:
        from apps.media import storage

        path = _media_path(asset)
        with self._open(zf, path, compress=False) as stream:
            entry = _Entry(stream)
            for chunk in storage.iter_bytes(asset.original):
                entry.write(chunk)
                self._tick(len(chunk) / CHUNK)
        self.files.append(_File(path, entry.sha256.hexdigest(), entry.size))

    def write(self) -> None:
        s = _Sources(self.user)
        self.total = max(1.0, s.rows() + s.asset_bytes() / CHUNK)
        with zipfile.ZipFile(self.out, "w", allowZip64=True) as zf:
            self._json(zf, "profile.json", s.profile())
            self._json(zf, "posts.json", s.posts())
            self._json(zf, "prompts/generations.json", s.generations())
            self._json(zf, "provenance.json", s.provenance())
            self._json(zf, "consent.json", s.consent())
            self._json(zf, "follows.json", s.follows())
            self._json(zf, "reactions.json", s.reactions())
            self._json(zf, "comments.json", s.comments())
            self._json(zf, "notifications.json", s.notifications())
            for asset in s.assets():
                self._original(zf, asset)
            manifest = {
                "export_id": str(self.export.pk),
                "user": {"id": str(self.user.pk), "username": self.user.username},
                "created_at": _iso(timezone.now()),
                "algorithm": "sha256",
                "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
            }
            with self._open(zf, "manifest.json", compress=True) as stream:
                stream.write((json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
        self._report(0.99)


def _pages(read: Callable[[Any], Any]) -> Iterator[Any]:
    """Every item of a paginated selector (``read(params)``), page by page."""
    from apps.core.pagination import MAX_LIMIT, PageParams

    cursor = None
    while True:
        page = read(PageParams(limit=MAX_LIMIT, cursor=cursor))
        yield from page.items
        if not page.next_cursor:
            return
        cursor = int(page.next_cursor)


class _Sources:
    """What goes into one person's export, read in chunks. Everything is filtered on the
    person: their own rows, never someone else's (a post of someone else's appears as an id)."""

    BATCH = 500

    def __init__(self, user: User) -> None:
        self.user = user

    def _posts_qs(self):
        from apps.posts.models import Post

        return Post.objects.filter(author_id=self.user.pk).select_related("asset")

    def _assets_qs(self):
        from apps.media.models import Asset

        # Taken out of the Library by someone else's right: gone for its owner too.
        return Asset.objects.filter(owner_id=self.user.pk, removed_at__isnull=True)

    def _jobs_qs(self):
        from apps.generation.models import GenerationJob

        # Every job of theirs, also those whose results a person depicted took back (the
        # Library hides those): the prompt is still the person's own.
        return GenerationJob.objects.filter(owner_id=self.user.pk)

    def _records_qs(self):
        from apps.provenance.models import ProvenanceRecord

        return ProvenanceRecord.objects.filter(creator_id=self.user.pk).select_related(
            "creator", "asset"
        )

    def rows(self) -> int:
        from apps.consent.models import ConsentEvent, LikenessUse
        from apps.notifications.models import Notification
        from apps.posts.models import Comment, Reaction
        from apps.social.models import Follow

        uid = self.user.pk
        return (
            self._posts_qs().count()
            + self._jobs_qs().count()
            + self._records_qs().count()
            + ConsentEvent.objects.filter(user_id=uid).count()
            + LikenessUse.objects.filter(person_id=uid).count()
            + Follow.objects.filter(follower_id=uid).count()
            + Follow.objects.filter(followee_id=uid).count()
            + Reaction.objects.filter(user_id=uid).count()
            + Comment.objects.filter(author_id=uid).count()
            + Notification.objects.filter(recipient_id=uid).count()
        )

    def asset_bytes(self) -> int:
        from django.db.models import Sum

        return self._assets_qs().aggregate(total=Sum("bytes"))["total"] or 0

    def profile(self) -> dict:
        from apps.accounts.serializers import MeOut

        user = User.objects.get(pk=self.user.pk)
        data = dict(MeOut(user).data)
        data.update(
            avatar_asset_id=str(user.avatar_id) if user.avatar_id else None,
            date_joined=_iso(user.date_joined),
            last_login=_iso(user.last_login),
        )
        return data

    def posts(self) -> Iterator[dict]:
        assets_out = set(self._assets_qs().values_list("id", flat=True))
        for post in self._posts_qs().order_by("id").iterator(chunk_size=self.BATCH):
            yield {
                "id": str(post.pk),
                "caption": post.caption,
                "visibility": post.visibility,
                # No alt text is stored for posts yet; the key is here so readers need not change.
                "alt_text": getattr(post, "alt_text", None) or None,
                "asset_id": str(post.asset_id),
                "file": _media_path(post.asset) if post.asset_id in assets_out else None,
                "remix_of": str(post.remix_of_id) if post.remix_of_id else None,
                "allow_remix": post.allow_remix,
                "training_use": post.training_use,
                "sensitive": post.sensitive,
                "hide_prompt": post.hide_prompt,
                "hashtags": post.hashtags,
                "reactions": post.reactions,
                "comments_count": post.comments_count,
                "created_at": _iso(post.created_at),
                "removed_at": _iso(post.removed_at),
                "removed_reason": post.removed_reason or None,
            }

    def generations(self) -> Iterator[dict]:
        jobs = self._jobs_qs().prefetch_related("assets", "job_inputs").order_by("id")
        for job in jobs.iterator(chunk_size=self.BATCH):
            yield {
                "id": str(job.pk),
                "kind": job.kind,
                "op": job.op,
                "status": job.status,
                "prompt": job.prompt,
                "negative_prompt": job.negative_prompt,
                "backend": job.backend,
                "seed": job.seed,
                "params": job.params,
                "inputs": _ids(ji.asset_id for ji in job.job_inputs.all()),
                "assets": _ids(a.pk for a in job.assets.all()),
                "error": job.error or None,
                "created_at": _iso(job.created_at),
                "started_at": _iso(job.started_at),
                "finished_at": _iso(job.finished_at),
            }

    def provenance(self) -> Iterator[dict]:
        from apps.provenance.selectors import prompt_hidden_ids
        from apps.provenance.serializers import record_data

        batch: list = []
        for record in self._records_qs().order_by("id").iterator(chunk_size=self.BATCH):
            batch.append(record)
            if len(batch) == self.BATCH:
                yield from self._records(batch, prompt_hidden_ids, record_data)
                batch = []
        yield from self._records(batch, prompt_hidden_ids, record_data)

    def _records(self, batch: list, hidden_of: Callable, data_of: Callable) -> Iterator[dict]:
        # As ``GET /provenance/{id}`` serves them to their creator (so hidden prompts included).
        hidden = hidden_of(records=batch, viewer=self.user) if batch else set()
        for record in batch:
            yield data_of(record, viewer=self.user, prompt_hidden=record.pk in hidden)

    def consent(self) -> dict:
        from apps.consent import selectors
        from apps.consent.serializers import ConsentEventOut, LikenessUseOut

        state = selectors.consent_settings(user=self.user)
        return {
            "likeness": {
                "policy": state.likeness_policy,
                "approved": selectors.likeness_approved(user=self.user),
            },
            "training": {"default_allowed": state.training_default_allowed},
            "events": (
                dict(ConsentEventOut(e).data)
                for e in _pages(lambda p: selectors.consent_events(user=self.user, params=p))
            ),
            "likeness_uses": (
                dict(LikenessUseOut(u).data)
                for u in _pages(lambda p: selectors.likeness_uses(person=self.user, params=p))
            ),
        }

    def follows(self) -> dict:
        from apps.social.models import Follow

        uid = self.user.pk

        def rows(qs, side: str) -> Iterator[dict]:
            for follow in qs.select_related(side).order_by("id").iterator(chunk_size=self.BATCH):
                other = getattr(follow, side)
                yield {"username": other.username, "since": _iso(follow.created_at)}

        return {
            "following": rows(Follow.objects.filter(follower_id=uid), "followee"),
            "followers": rows(Follow.objects.filter(followee_id=uid), "follower"),
        }

    def reactions(self) -> Iterator[dict]:
        from apps.posts.models import Reaction

        rows = Reaction.objects.filter(user_id=self.user.pk).order_by("id")
        for r in rows.iterator(chunk_size=self.BATCH):
            yield {"post_id": str(r.post_id), "kind": r.kind, "created_at": _iso(r.created_at)}

    def comments(self) -> Iterator[dict]:
        from apps.posts.models import Comment

        rows = Comment.objects.filter(author_id=self.user.pk).order_by("id")
        for c in rows.iterator(chunk_size=self.BATCH):
            yield {
                "id": str(c.pk),
                "post_id": str(c.post_id),
                "parent_id": str(c.parent_id) if c.parent_id else None,
                "body": c.body,
                "created_at": _iso(c.created_at),
                "removed_at": _iso(c.removed_at),
            }

    def notifications(self) -> Iterator[dict]:
        from apps.notifications.models import Notification
        from apps.notifications.selectors import notification_summary

        rows = (
            Notification.objects.filter(recipient_id=self.user.pk)
            .select_related("actor")
            .order_by("id")
        )
        for n in rows.iterator(chunk_size=self.BATCH):
            yield {
                "id": str(n.pk),
                "type": n.kind,
                "summary": notification_summary(n),
                "actor": n.actor.username if n.actor_id else None,
                "actors_count": n.actors_count,
                "post_id": str(n.post_id) if n.post_id else None,
                "text": n.text,
                "read": n.read_at is not None,
                "created_at": _iso(n.created_at),
            }

    def assets(self) -> Iterator[Any]:
        return self._assets_qs().order_by("id").iterator(chunk_size=self.BATCH)
