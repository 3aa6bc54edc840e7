"""One ComfyUI server, over its own HTTP and WebSocket API.

Only what the backend needs: queue a prompt for a client id, follow that client's socket, read
the history entry and download outputs, upload a start picture, delete a queued prompt or
interrupt a running one, read the queue, system stats, ``/object_info`` and a model file's
metadata. Anything that means the server is gone (refused, reset, timed out, a 5xx) raises
``ServerGone``; an answer that says the request itself is wrong raises ``ServerRefused`` with
ComfyUI's own error body.
"""

from __future__ import annotations

import json
import logging
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from websockets.exceptions import InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

logger = logging.getLogger(__name__)

MAX_OUTPUT_BYTES = 512 * 1024 * 1024  # a result larger than this is refused
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # a socket message (previews are binary and ignored)


class ServerGone(Exception):
    """The server did not answer, or answered that it is broken (5xx)."""


class ServerRefused(Exception):
    """The server answered that the request is wrong (4xx); ``body`` is its JSON, if any."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


class ComfyServer:
    """HTTP and socket calls to one server; ``url`` is its base, e.g. http://gpu1:8188."""

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 3.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.session = requests.Session()
        self.session.headers.update(self.headers)

    @property
    def label(self) -> str:
        """The server's host and port, for logs (never its credentials)."""
        parts = urlsplit(self.url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"

    def __repr__(self) -> str:
        return f"<ComfyServer {self.label}>"

    # --- HTTP ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, timeout: float | None = None, **kwargs) -> Any:
        try:
            response = self.session.request(
                method,
                self.url + path,
                timeout=(self.connect_timeout, timeout or self.timeout),
                **kwargs,
            )
        except requests.RequestException as e:
            raise ServerGone(f"{self.label}: {type(e).__name__}") from e
        if response.status_code >= 500:
            raise ServerGone(f"{self.label}: HTTP {response.status_code}")
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text[:2000]
            raise ServerRefused(response.status_code, body)
        return response

    def get_json(self, path: str, *, timeout: float | None = None, **params) -> Any:
        response = self._call("GET", path, params=params or None, timeout=timeout)
        try:
            return response.json()
        except ValueError as e:
            raise ServerGone(f"{self.label}: {path} answered something other than JSON") from e

    def system_stats(self, *, timeout: float | None = None) -> dict[str, Any]:
        return self.get_json("/system_stats", timeout=timeout)

    def queue(self, *, timeout: float | None = None) -> dict[str, Any]:
        return self.get_json("/queue", timeout=timeout)

    def queue_length(self, *, timeout: float | None = None) -> int:
        queue = self.queue(timeout=timeout)
        return len(queue.get("queue_running") or []) + len(queue.get("queue_pending") or [])

    def prompt_state(self, prompt_id: str) -> str:
        """ "running", "pending" or "" (not in the queue: finished, deleted, or never there)."""
        queue = self.queue()
        for state, key in (("running", "queue_running"), ("pending", "queue_pending")):
            for item in queue.get(key) or []:
                if len(item) > 1 and item[1] == prompt_id:
                    return state
        return ""

    def object_info(self) -> dict[str, Any]:
        return self.get_json("/object_info", timeout=max(self.timeout, 60.0))

    def model_sha256(self, folder: str, filename: str) -> str | None:
        """The sha256 a model file declares in its safetensors metadata, if the server has it."""
        if not folder or not filename:
            return None
        try:
            metadata = self.get_json(f"/view_metadata/{folder}", filename=filename, timeout=10.0)
        except (ServerRefused, ServerGone):
            return None
        if not isinstance(metadata, dict):
            return None
        value = str(metadata.get("modelspec.hash_sha256") or "").lower().removeprefix("0x")
        return value if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else None

    def prompt_queue(self, graph: dict[str, Any], client_id: str) -> str:
        response = self._call("POST", "/prompt", json={"prompt": graph, "client_id": client_id})
        body = response.json()
        prompt_id = body.get("prompt_id")
        if not prompt_id:
            raise ServerRefused(response.status_code, body)
        return str(prompt_id)

    def prompt_delete(self, prompt_id: str) -> None:
        self._call("POST", "/queue", json={"delete": [prompt_id]}, timeout=10.0)

    def interrupt(self, prompt_id: str) -> None:
        self._call("POST", "/interrupt", json={"prompt_id": prompt_id}, timeout=10.0)

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of ``prompt_id``, or None while it has none (not finished)."""
        entries = self.get_json(f"/history/{prompt_id}")
        entry = entries.get(prompt_id) if isinstance(entries, dict) else None
        return entry if isinstance(entry, dict) else None

    def view(self, entry: dict[str, Any]) -> bytes:
        """The bytes of one output file (``{"filename", "subfolder", "type"}``)."""
        params = {
            "filename": entry.get("filename", ""),
            "subfolder": entry.get("subfolder", ""),
            "type": entry.get("type", "output"),
        }
        response = self._call("GET", "/view", params=params, stream=True, timeout=120.0)
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(1024 * 1024):
                size += len(chunk)
                if size > MAX_OUTPUT_BYTES:
                    raise ServerRefused(413, "output larger than Vivid accepts")
                chunks.append(chunk)
        except requests.RequestException as e:
            raise ServerGone(f"{self.label}: the download broke off") from e
        finally:
            response.close()
        return b"".join(chunks)

    def upload_image(self, name: str, data: bytes) -> str:
        """Upload a start picture; the name to put in a LoadImage node's ``image`` input."""
        response = self._call(
            "POST",
            "/upload/image",
            files={"image": (name, data, "image/png")},
            data={"type": "input", "overwrite": "true"},
        )
        body = response.json()
        uploaded = str(body.get("name") or name)
        subfolder = str(body.get("subfolder") or "")
        return f"{subfolder}/{uploaded}" if subfolder else uploaded

    # --- socket -------------------------------------------------------------------------------

    def socket_open(self, client_id: str, stack: ExitStack) -> ClientConnection:
        """The server's socket for ``client_id`` (ComfyUI sends a prompt's progress to the
        client id it was queued with), closed when ``stack`` closes."""
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = parts.path.rstrip("/") + "/ws"
        ws_url = urlunsplit((scheme, parts.netloc, path, f"clientId={client_id}", ""))
        try:
            return stack.enter_context(
                connect(
                    ws_url,
                    additional_headers=self.headers or None,
                    open_timeout=self.connect_timeout,
                    close_timeout=1.0,
                    max_size=MAX_MESSAGE_BYTES,
                    compression=None,
                )
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as e:
            raise ServerGone(f"{self.label}: socket: {type(e).__name__}") from e


def socket_message(raw: str | bytes) -> dict[str, Any] | None:
    """A JSON message from the socket, or None for a binary preview frame or garbage."""
    if isinstance(raw, bytes):
        return None
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
