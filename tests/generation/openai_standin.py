"""A local stand-in for the slice of OpenAI's HTTP API the ``openai`` backend uses.

A real HTTP server (stdlib ``ThreadingHTTPServer`` in a thread) on 127.0.0.1, speaking the same
requests and response shapes as the service for:

- ``POST /v1/images/generations`` (JSON) -> ``ImagesResponse`` with base64 PNGs of the asked size
- ``POST /v1/videos`` (multipart or JSON) -> a ``Video`` object, ``queued``
- ``GET /v1/videos/{id}`` -> the ``Video``, ``in_progress`` then ``completed`` after a few polls
- ``GET /v1/videos/{id}/content`` -> a real H.264 MP4 of the video's size and seconds
- ``DELETE /v1/videos/{id}`` -> ``{"id", "object": "video.deleted", "deleted": true}``

Every request needs ``Authorization: Bearer <api_key>`` (401 otherwise). Set ``mode`` to make it
misbehave: see ``MODES``. ``requests`` records what the client sent, for assertions.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from apps.media import video as video_io

IMAGE_SIZES = {"1024x1024", "1536x1024", "1024x1536", "auto"}
VIDEO_SIZES = {"720x1280", "1280x720", "1024x1792", "1792x1024"}
VIDEO_SECONDS = {"4", "8", "12"}

MODES = {
    "ok": "answer normally",
    "rate_limit": "429 rate_limit_exceeded with Retry-After, on every request",
    "insufficient_quota": "429 insufficient_quota (out of credit), on every request",
    "server_error": "500 server_error, on every request",
    "moderation": "400 moderation_blocked on POSTs (the gpt-image/Sora safety refusal)",
    "content_policy": "400 content_policy_violation on POSTs (the older image-model refusal)",
    "bad_request": "400 invalid_value on POSTs",
    "slow": "sleep slow_s before answering anything (longer than the client's timeout)",
    "never_finish": "videos created in this mode stay in_progress forever",
    "video_blocked": "videos created in this mode end failed with moderation_blocked",
}


def _error(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


RATE_LIMIT = _error(
    "Rate limit reached for requests per min (RPM): Limit 5, Used 5, Requested 1. "
    "Please try again in 12s.",
    "requests",
    "rate_limit_exceeded",
)
INSUFFICIENT_QUOTA = _error(
    "You exceeded your current quota, please check your plan and billing details.",
    "insufficient_quota",
    "insufficient_quota",
)
SERVER_ERROR = _error(
    "The server had an error while processing your request. Sorry about that!",
    "server_error",
    None,
)
MODERATION = _error(
    "Your request was rejected by the safety system. If you believe this is an error, contact "
    "us at help.openai.com and include the request ID req_0123.",
    "image_generation_user_error",
    "moderation_blocked",
)
CONTENT_POLICY = _error(
    "Your request was rejected as a result of our safety system. Your prompt may contain text "
    "that is not allowed by our safety system.",
    "invalid_request_error",
    "content_policy_violation",
)


class OpenAIStandIn:
    """Start with ``start()`` (or ``with``); ``base_url`` is what the SDK needs."""

    def __init__(self, api_key: str = "test-key", host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self.mode = "ok"
        self.slow_s = 4.0
        self.polls_to_finish = 2
        # Cheap clips: a low frame rate keeps encoding fast (the backend retimes to Vivid's FPS).
        self.fps = 8
        self.requests: list[dict[str, Any]] = []
        self.videos: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._content: dict[tuple[int, int, int], bytes] = {}
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._httpd.standin = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> OpenAIStandIn:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        self.mode = "ok"
        with self._lock:
            self.requests.clear()
            self.videos.clear()

    def calls(self, method: str, prefix: str = "/v1/") -> list[dict[str, Any]]:
        with self._lock:
            return [
                r for r in self.requests if r["method"] == method and r["path"].startswith(prefix)
            ]

    # --- what the endpoints return ------------------------------------------------------------

    def png(self, width: int, height: int, prompt: str, index: int) -> bytes:
        """A cheap picture: a colour from the prompt and a frame, so crops are visible."""
        hue = sum(prompt.encode()) + 67 * index
        colour = (hue * 37 % 256, hue * 91 % 256, hue * 53 % 256)
        image = Image.new("RGB", (width, height), colour)
        ImageDraw.Draw(image).rectangle(
            (width // 8, height // 8, width * 7 // 8, height * 7 // 8),
            outline=(255, 255, 255),
            width=8,
        )
        out = io.BytesIO()
        image.save(out, "PNG", compress_level=1)
        return out.getvalue()

    def mp4(self, width: int, height: int, seconds: int) -> bytes:
        """A real H.264 MP4 (cached per size and length): a gradient with a moving bar."""
        key = (width, height, seconds)
        with self._lock:
            cached = self._content.get(key)
        if cached is not None:
            return cached
        base = np.zeros((height, width, 3), np.uint8)
        base[..., 0] = np.linspace(30, 220, width, dtype=np.uint8)[None, :]
        base[..., 2] = np.linspace(200, 40, height, dtype=np.uint8)[:, None]
        total = seconds * self.fps

        def frames():
            for i in range(total):
                frame = base.copy()
                x = i * (width - 16) // max(total - 1, 1)
                frame[:, x : x + 16] = 255
                yield frame

        data = video_io.encode(frames(), width=width, height=height, fps=self.fps, quality="draft")
        with self._lock:
            self._content[key] = data
        return data

    def render(self, video: dict[str, Any]) -> None:
        width, height = (int(v) for v in video["size"].split("x"))
        data = self.mp4(width, height, int(video["seconds"]))
        with self._lock:
            video["content"] = data

    def video_object(self, video: dict[str, Any]) -> dict[str, Any]:
        fields = (
            "id",
            "object",
            "created_at",
            "completed_at",
            "expires_at",
            "error",
            "model",
            "progress",
            "prompt",
            "remixed_from_video_id",
            "seconds",
            "size",
            "status",
        )
        return {k: video[k] for k in fields}


class _Handler(BaseHTTPRequestHandler):
    server_version = "openai-standin/1"
    protocol_version = "HTTP/1.0"  # one request per connection: simple and robust

    @property
    def standin(self) -> OpenAIStandIn:
        return self.server.standin  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --- plumbing -----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", f"req_{secrets.token_hex(12)}")
            self.send_header("openai-processing-ms", "12")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
            pass

    def _json(self, status: int, payload: Any, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
            )
            fields: dict[str, Any] = {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                value = part.get_payload(decode=True) or b""
                fields[name] = value.decode() if part.get_filename() is None else value
            return fields
        if raw:
            return json.loads(raw)
        return {}

    def _handle(self, method: str) -> None:
        standin = self.standin
        path = self.path.split("?", 1)[0]
        body = self._body() if method == "POST" else {}
        with standin._lock:
            standin.requests.append(
                {
                    "method": method,
                    "path": path,
                    "body": body,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
            )
        if self.headers.get("Authorization", "") != f"Bearer {standin.api_key}":
            given = self.headers.get("Authorization", "")
            message = (
                "You didn't provide an API key."
                if not given
                else "Incorrect API key provided: te***ey. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
            self._json(401, _error(message, "invalid_request_error", "invalid_api_key"))
            return
        mode = standin.mode
        if mode == "slow":
            deadline = time.monotonic() + standin.slow_s
            while time.monotonic() < deadline and not standin._stopping.is_set():
                time.sleep(0.05)
        elif mode == "rate_limit":
            self._json(429, RATE_LIMIT, {"Retry-After": "12", "x-ratelimit-limit-requests": "5"})
            return
        elif mode == "insufficient_quota":
            self._json(429, INSUFFICIENT_QUOTA)
            return
        elif mode == "server_error":
            self._json(500, SERVER_ERROR)
            return
        elif method == "POST" and mode == "moderation":
            self._json(400, MODERATION)
            return
        elif method == "POST" and mode == "content_policy":
            self._json(400, CONTENT_POLICY)
            return
        elif method == "POST" and mode == "bad_request":
            self._json(
                400,
                _error("Invalid value: 'size'.", "invalid_request_error", "invalid_value", "size"),
            )
            return

        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "images", "generations"]:
            self._images(body)
        elif method == "POST" and parts == ["v1", "videos"]:
            self._video_create(body)
        elif method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "videos"]:
            self._video_retrieve(parts[2])
        elif (
            method == "GET"
            and len(parts) == 4
            and parts[:2] == ["v1", "videos"]
            and parts[3] == "content"
        ):
            self._video_content(parts[2])
        elif method == "DELETE" and len(parts) == 3 and parts[:2] == ["v1", "videos"]:
            self._video_delete(parts[2])
        else:
            self._json(404, _error(f"Invalid URL ({method} {path})", "invalid_request_error", None))

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- endpoints ----------------------------------------------------------------------------

    def _invalid(self, message: str, param: str) -> None:
        self._json(400, _error(message, "invalid_request_error", "invalid_value", param))

    def _images(self, body: dict[str, Any]) -> None:
        prompt = body.get("prompt")
        if not prompt:
            self._json(
                400,
                _error(
                    "Missing required parameter: 'prompt'.",
                    "invalid_request_error",
                    "missing_required_parameter",
                    "prompt",
                ),
            )
            return
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            self._invalid(f"Invalid 'n': integer between 1 and 10 expected, got {n!r}.", "n")
            return
        size = body.get("size", "auto")
        if size not in IMAGE_SIZES:
            self._invalid(
                f"Invalid value: '{size}'. Supported values are: '1024x1024', '1024x1536', "
                "'1536x1024', and 'auto'.",
                "size",
            )
            return
        if size == "auto":
            size = "1024x1024"
        width, height = (int(v) for v in size.split("x"))
        quality = body.get("quality") or "auto"
        quality = "medium" if quality == "auto" else quality
        images = [
            {"b64_json": base64.b64encode(self.standin.png(width, height, prompt, i)).decode()}
            for i in range(n)
        ]
        self._json(
            200,
            {
                "created": int(time.time()),
                "background": "opaque",
                "data": images,
                "output_format": body.get("output_format") or "png",
                "quality": quality,
                "size": size,
                "usage": {
                    "input_tokens": 12,
                    "input_tokens_details": {"image_tokens": 0, "text_tokens": 12},
                    "output_tokens": 272 * n,
                    "output_tokens_details": {"image_tokens": 272 * n, "text_tokens": 0},
                    "total_tokens": 12 + 272 * n,
                },
            },
        )

    def _video_create(self, body: dict[str, Any]) -> None:
        prompt = body.get("prompt")
        if not prompt:
            self._json(
                400,
                _error(
                    "Missing required parameter: 'prompt'.",
                    "invalid_request_error",
                    "missing_required_parameter",
                    "prompt",
                ),
            )
            return
        seconds = str(body.get("seconds") or "4")
        size = body.get("size") or "720x1280"
        if seconds not in VIDEO_SECONDS:
            self._invalid(
                f"Invalid value: '{seconds}'. Supported values are: '4', '8', '12'.", "seconds"
            )
            return
        if size not in VIDEO_SIZES:
            self._invalid(f"Invalid value: '{size}'.", "size")
            return
        standin = self.standin
        video = {
            "id": f"video_{secrets.token_hex(16)}",
            "object": "video",
            "created_at": int(time.time()),
            "completed_at": None,
            "expires_at": None,
            "error": None,
            "model": body.get("model") or "sora-2",
            "progress": 0,
            "prompt": prompt,
            "remixed_from_video_id": None,
            "seconds": seconds,
            "size": size,
            "status": "queued",
            # private
            "polls": 0,
            "fate": standin.mode if standin.mode in ("never_finish", "video_blocked") else "ok",
        }
        with standin._lock:
            standin.videos[video["id"]] = video
        if video["fate"] == "ok":  # it "renders" while the client polls, as the service does
            threading.Thread(target=standin.render, args=(video,), daemon=True).start()
        self._json(200, standin.video_object(video))

    def _find(self, video_id: str) -> dict[str, Any] | None:
        with self.standin._lock:
            video = self.standin.videos.get(video_id)
        if video is None or video.get("deleted"):
            self._json(
                404,
                _error(
                    f"Video with id '{video_id}' not found.",
                    "invalid_request_error",
                    "video_not_found",
                    "video_id",
                ),
            )
            return None
        return video

    def _video_retrieve(self, video_id: str) -> None:
        video = self._find(video_id)
        if video is None:
            return
        standin = self.standin
        with standin._lock:
            if video["status"] in ("queued", "in_progress"):
                video["polls"] += 1
                if video["fate"] == "never_finish":
                    video["status"] = "in_progress"
                    video["progress"] = min(99, video["progress"] + 7)
                elif video["polls"] >= standin.polls_to_finish and video["fate"] == "video_blocked":
                    video["status"] = "failed"
                    video["error"] = {
                        "code": "moderation_blocked",
                        "message": "The generated video was blocked by our moderation system.",
                    }
                elif video["polls"] >= standin.polls_to_finish and "content" in video:
                    video["status"] = "completed"
                    video["progress"] = 100
                    video["completed_at"] = int(time.time())
                    video["expires_at"] = video["completed_at"] + 3600
                else:
                    video["status"] = "in_progress"
                    video["progress"] = min(99, 100 * video["polls"] // standin.polls_to_finish)
            payload = standin.video_object(video)
        self._json(200, payload)

    def _video_content(self, video_id: str) -> None:
        video = self._find(video_id)
        if video is None:
            return
        if video["status"] != "completed":
            self._json(
                400,
                _error(
                    "Video is not ready yet; wait for status 'completed'.",
                    "invalid_request_error",
                    "video_not_ready",
                    None,
                ),
            )
            return
        self._send(200, video["content"], "video/mp4")

    def _video_delete(self, video_id: str) -> None:
        video = self._find(video_id)
        if video is None:
            return
        with self.standin._lock:
            video["deleted"] = True
        self._json(200, {"id": video_id, "object": "video.deleted", "deleted": True})
