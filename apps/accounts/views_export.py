"""The data export page (``/settings/data/export``) and the signed download
(``/exports/<id>/download?sig=...``), over the same service as the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_safe

from apps.accounts import export as exports
from apps.core.exceptions import ApplicationError


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def export_page(request):
    """Ask for an export, watch it build (export.js polls the API) and download it."""
    error, status, retry_after = None, 200, None
    if request.method == "POST":
        try:
            exports.export_request(user=request.user)
        except ApplicationError as e:
            error, status, retry_after = e.message, e.status, e.retry_after
        else:
            return redirect("accounts:export")
    latest = exports.export_latest(user=request.user)
    ready = latest is not None and exports.export_is_downloadable(latest)
    context = {
        "section": "data",
        "export": latest,
        "download_url": exports.export_link(latest) if ready else None,
        "next_allowed_at": exports.export_next_allowed_at(user=request.user),
        "keep_days": exports.keep_period().days,
        "link_minutes": exports.link_ttl_s() // 60,
        "error": error,
    }
    response = render(request, "accounts/settings/export.html", context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@require_safe
def export_download(request, export_id: int):
    """The zip, to whoever holds a valid, unexpired signed link (no session needed: the link is
    the permission, short-lived, and checked again now). A link for another export, or forged,
    answers 404 like a missing export."""
    from apps.media import storage

    try:
        export = exports.export_for_link(export_id=export_id, sig=request.GET.get("sig", ""))
    except exports.LinkExpired:
        response = HttpResponse(
            "This download link has expired. Open the export page for a fresh one.",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
        response["Cache-Control"] = "no-store"
        return response
    except (exports.LinkInvalid, ApplicationError) as e:
        raise Http404 from e
    try:
        size = storage.size(export.file_name)
    except (FileNotFoundError, OSError) as e:
        raise Http404 from e
    filename = f"vivid-{export.user.username}-{export.created_at:%Y-%m-%d}.zip"
    response = StreamingHttpResponse(
        storage.iter_bytes(export.file_name), content_type="application/zip"
    )
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    # The link is a capability: it must not travel on in a Referer.
    response["Referrer-Policy"] = "no-referrer"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
