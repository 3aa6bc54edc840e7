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

from dataclasses import asdict

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.signals import setting_changed
from django.utils.http import content_disposition_header

# Shown in place (<img>, <video>); anything else downloads. SVG can carry script: it downloads.
_INLINE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/avif", "video/")


# The policies as built for each (scheme, host): the same for every response that sets no policy
# of its own and uses no nonce, so built once, not on every request (an API page spent about as
# long building them as running its token lookup).
_BUILT: dict[tuple, tuple[str, str]] = {}
_BUILT_MAX = 64  # hosts are checked against ALLOWED_HOSTS, but "*" allows any


def _forget_built(*, setting: str, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY") or setting == "ALLOWED_HOSTS":
        _BUILT.clear()


setting_changed.connect(_forget_built)

_OWN_POLICY = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)


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

    def process_response(self, request, response):
        """django-csp's, with the policies built once per scheme and host (``_BUILT``) for a
        response without a policy of its own and a request that used no nonce."""
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _OWN_POLICY
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # Django's debug pages, as django-csp leaves them
        try:
            key = (request.is_secure(), request.get_host())
        except DisallowedHost:
            return super().process_response(request, response)
        built = _BUILT.get(key)
        if built is None:
            parts = self.get_policy_parts(request, response)
            parts_ro = self.get_policy_parts(request, response, report_only=True)
            built = (
                build_policy(**asdict(parts)),
                build_policy(**asdict(parts_ro), report_only=True),
            )
            if len(_BUILT) >= _BUILT_MAX:
                _BUILT.clear()
            _BUILT[key] = built
        for header, value, exempt, name in (
            (HEADER, built[0], "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (HEADER_REPORT_ONLY, built[1], "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            prefixes = (getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            if (
                value
                and header not in response
                and getattr(response, exempt, False) is False
                and not request.path_info.startswith(tuple(prefixes))
            ):
                response[header] = value
        # As django-csp: a nonce asked for once the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


def is_inline_type(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower().startswith(_INLINE_TYPES)


def file_headers(response, *, filename: str, content_type: str):
    """Set nosniff and a Content-Disposition on a file's response; returns the response."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=not is_inline_type(content_type), filename=filename
    )
    return response
