"""Response hardening shared by the site: the Content-Security-Policy and the headers of files.

The policy itself is in settings (CONTENT_SECURITY_POLICY, docs/security.md); django-csp writes
it. The one thing a static policy cannot say is the site's own WebSocket origin: CSP Level 3
counts ws:// and wss:// of the page's host as 'self', but older browsers (Safari before 15.4)
do not, and the host is only known per request. The middleware adds it to connect-src.

Files (media, exports) are never documents of the site: ``file_headers`` gives them nosniff and a
Content-Disposition, inline with a safe name for pictures and videos a page shows, an attachment
for anything else so a browser never renders it in the site's origin.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.utils.http import content_disposition_header

# Shown in place (<img>, <video>); anything else downloads. SVG can carry script: it downloads.
_INLINE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/avif", "video/")


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, plus the request's own ws(s):// origin in connect-src."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        scheme = "wss" if request.is_secure() else "ws"
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), f"{scheme}://{host}"]
        parts.update = update
        return parts


def is_inline_type(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower().startswith(_INLINE_TYPES)


def file_headers(response, *, filename: str, content_type: str):
    """Set nosniff and a Content-Disposition on a file's response; returns the response."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=not is_inline_type(content_type), filename=filename
    )
    return response
