"""Error pages: JSON in the API's error shape under /api/, HTML elsewhere."""

from django.shortcuts import render

from apps.core.exceptions import json_error


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error("not_found", "Not found.", 404)
    return render(request, "errors/404.html", status=404)


def bad_request(request, exception=None):
    """Django's own refusals (SuspiciousOperation): its request-size limits answer in the
    API's error shape (too big 413, too many fields or files 400), the rest as before."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
    from django.views.defaults import bad_request as django_bad_request

    if isinstance(exception, RequestDataTooBig):
        return json_error("payload_too_large", "The request is too large.", 413)
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        return json_error("invalid", "The request has too many fields or files.", 400)
    if request.path.startswith("/api/"):
        return json_error("invalid", "The request cannot be read.", 400)
    return django_bad_request(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        from apps.core.middleware import server_error_response

        return server_error_response(request)
    return render(request, "errors/500.html", status=500)
