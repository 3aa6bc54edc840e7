"""Errors in the API's shape: 500 server_error with a request id that is in the log, DEBUG or not;
503 unavailable with Retry-After while PostgreSQL or Redis cannot be reached."""

from __future__ import annotations

import logging

import pytest
import requests
from django.test import Client

from apps.accounts import services as account_services
from tests.core.web import web_process
from tests.processes import free_port


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


@pytest.mark.urls("tests.core.boom_urls")
@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_exception_answers_json_500_with_a_request_id_in_the_log(
    db, client, settings, caplog, debug
):
    settings.DEBUG = debug
    with caplog.at_level(logging.ERROR, logger="vivid.errors"):
        response = client.get("/api/v1/test-boom")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "server_error"
    assert error["message"]
    assert error["request_id"] == response["X-Request-ID"]
    assert "Traceback" not in response.content.decode()
    logged = [r for r in caplog.records if error["request_id"] in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None


@pytest.mark.urls("tests.core.boom_urls")
def test_the_client_request_id_is_kept(db, client):
    response = client.get("/api/v1/test-boom", HTTP_X_REQUEST_ID="my-request-0001")
    assert response["X-Request-ID"] == "my-request-0001"
    assert response.json()["error"]["request_id"] == "my-request-0001"
    odd = client.get("/api/v1/test-boom", HTTP_X_REQUEST_ID="<script>")
    assert odd["X-Request-ID"] != "<script>" and len(odd["X-Request-ID"]) == 32


@pytest.mark.urls("tests.core.boom_urls")
def test_pages_keep_the_html_error_page(db, client):
    response = client.get("/test-boom")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert response["X-Request-ID"]


def test_every_answer_carries_a_request_id(db, client):
    response = client.get("/api/v1/feed/public")
    assert response.status_code == 200
    assert len(response["X-Request-ID"]) == 32


def test_unreachable_database_answers_503_with_retry_after(tmp_path):
    dead = f"postgres://postgres@127.0.0.1:{free_port()}/vivid"
    log = tmp_path / "web.log"
    # DB_POOL_TIMEOUT_S: how long a request waits for the pool to find a connection.
    with web_process(log, DATABASE_URL=dead, DEBUG="1", DB_POOL_TIMEOUT_S="1") as url:
        answers = [
            requests.get(f"{url}/api/v1/feed/public", timeout=30),
            requests.get(
                f"{url}/api/v1/me", headers={"Authorization": "Bearer not-a-token"}, timeout=30
            ),
            requests.post(
                f"{url}/api/v1/posts",
                json={"asset_id": "1", "visibility": "public"},
                headers={"Authorization": "Bearer vivid_not_a_real_token"},
                timeout=30,
            ),
        ]
        page = requests.get(f"{url}/", timeout=30)
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"].isdigit()
        error = answer.json()["error"]
        assert error["code"] == "unavailable"
        assert error["request_id"] == answer.headers["X-Request-ID"]
    assert page.status_code == 503
    assert page.headers["Retry-After"].isdigit()
    assert "Back in a moment" in page.text and "Traceback" not in page.text
    output = log.read_text()
    assert output.count("database unavailable") == 1, output
    assert "Traceback" not in output, output


def test_unreachable_redis_answers_503(transactional_db, alice, tmp_path):
    _, token = account_services.token_create(user=alice, scopes=("read", "write"))
    dead = f"redis://127.0.0.1:{free_port()}/0"
    log = tmp_path / "web.log"
    with web_process(log, REDIS_URL=dead, CELERY_BROKER_URL=dead) as url:
        answer = requests.post(
            f"{url}/api/v1/generations",
            json={"kind": "image", "prompt": "a lighthouse at dusk"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        fine = requests.get(
            f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "unavailable"
    assert answer.headers["Retry-After"].isdigit()
    assert fine.status_code == 200  # what needs only the database still works
    output = log.read_text()
    assert output.count("redis unavailable") == 1, output
    assert "redis available again" in output, output


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_answer_404_in_the_api_shape(db, client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
