"""Error pages: JSON in the API's error shape under /api/, HTML elsewhere."""

from django.shortcuts import render

from apps.core.exceptions import json_error


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error("not_found", "Not found.", 404)
    return render(request, "errors/404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        from apps.core.middleware import server_error_response

        return server_error_response(request)
    return render(request, "errors/500.html", status=500)
