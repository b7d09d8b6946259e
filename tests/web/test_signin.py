"""Signing in to the console: passwords, the session cookie, CSRF, sign-out and the brake on guessing."""

from __future__ import annotations

import io
import re

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from hotline.cli import main
from hotline.config import Config
from hotline.db.users import revoke_user, set_password
from hotline.passwords import Throttle, hash_password, verify_password
from hotline.web.app import make_app
from hotline.web.live import CallHub, Telemetry
from hotline.web.signin import ADDRESS_FAILURES, USER_FAILURES

PASSWORD = "接线员-correct horse"


def test_a_password_is_stored_as_scrypt_with_its_parameters_and_only_it_verifies():
    stored = hash_password(PASSWORD)
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", 2**15, 8, 3)
    assert PASSWORD not in stored and hash_password(PASSWORD) != stored  # a fresh salt each time
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password(PASSWORD, None)
    assert not verify_password(PASSWORD, "scrypt$garbage")


def test_the_throttle_stops_a_key_after_its_limit_until_the_window_passes():
    throttle = Throttle(limit=3, window=60.0)
    for t in (0.0, 10.0, 20.0):
        assert throttle.wait("li", t) == 0
        throttle.failed("li", t)
    assert throttle.wait("li", 21.0) == pytest.approx(39.0)  # until the first failure is 60 s old
    assert throttle.wait("wang", 21.0) == 0                  # others are not held up
    assert throttle.wait("li", 60.0) == 0                    # one failure aged out: one more try
    throttle.failed("li", 60.0)
    assert throttle.wait("li", 61.0) == pytest.approx(9.0)
    throttle.succeeded("li")
    assert throttle.wait("li", 61.0) == 0


def test_the_throttle_forgets_the_stalest_keys_past_its_capacity():
    throttle = Throttle(limit=1, window=60.0, capacity=2)
    for name in ("a", "b", "c"):
        throttle.failed(name, 0.0)
    assert throttle.wait("a", 1.0) == 0 and throttle.wait("c", 1.0) > 0


@pytest.fixture
def web_config() -> Config:
    return Config(database_url="unused", web_session_hours=8.0)


@pytest.fixture
async def console(api, sessions):
    """The web app with an operator and a supervisor who have console passwords."""
    async with sessions() as session:
        for role in ("operator", "supervisor"):
            await set_password(session, f"{role}-1", hash_password(PASSWORD))
    return api


async def sign_in(client: TestClient, name: str = "operator-1", password: str = PASSWORD, **headers):
    return await client.post("/api/v1/sign-in", json={"name": name, "password": password}, headers=headers)


async def test_signing_in_sets_an_httponly_strict_expiring_cookie_that_opens_the_api(console):
    response = await sign_in(console)
    assert response.status == 200, await response.text()
    me = await response.json()
    assert me["name"] == "operator-1" and me["role"] == "operator" and me["timezone"] == "Asia/Shanghai"
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", me["csrf_token"])
    cookie = response.cookies["hotline_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["max-age"] == str(8 * 3600)
    assert not cookie["secure"] and cookie["path"] == "/"
    assert response.headers["Cache-Control"] == "no-store"
    assert (await console.get("/api/v1/calls")).status == 200
    assert (await (await console.get("/api/v1/me")).json())["csrf_token"] == me["csrf_token"]
    # The role still decides: an operator may not read recordings' audit or scores.
    assert (await console.get("/api/v1/scores/month?rubric=yihuang-window&month=2026-10")).status == 403


async def test_the_cookie_is_secure_when_configured_for_tls(sessions):
    config = Config(database_url="unused", web_secure_cookie=True)
    async with TestClient(TestServer(make_app(config, sessions, CallHub(), Telemetry()))) as client:
        from hotline.db.users import add_user

        async with sessions() as session:
            await add_user(session, "li", "operator")
            await set_password(session, "li", hash_password(PASSWORD))
        response = await sign_in(client, "li")
        assert response.status == 200
        assert response.cookies["hotline_session"]["secure"]


async def test_a_wrong_password_or_an_unknown_name_is_refused_alike(console):
    for name, password in (("operator-1", "wrong password"), ("nobody", PASSWORD)):
        response = await sign_in(console, name, password)
        assert response.status == 401
        assert (await response.json())["message"] == "wrong user name or password"
        assert "hotline_session" not in response.cookies
    assert (await console.get("/api/v1/me")).status == 401


async def test_a_change_made_with_the_cookie_needs_the_csrf_token(console):
    me = await (await sign_in(console)).json()
    refused = await console.post("/api/v1/sign-out")
    assert refused.status == 403
    assert (await refused.json())["details"] == {"reason": "csrf"}
    wrong = await console.post("/api/v1/sign-out", headers={"X-CSRF-Token": me["csrf_token"][:-1] + "x"})
    assert wrong.status == 403
    assert (await console.get("/api/v1/me")).status == 200  # still signed in


async def test_signing_out_ends_the_session_on_the_server(console):
    me = await (await sign_in(console)).json()
    cookie = console.session.cookie_jar.filter_cookies(console.make_url("/"))["hotline_session"].value
    response = await console.post("/api/v1/sign-out", headers={"X-CSRF-Token": me["csrf_token"]})
    assert response.status == 204
    # The old cookie, replayed (copied before sign-out), no longer works.
    replay = await console.get("/api/v1/me", headers={"Cookie": f"hotline_session={cookie}"})
    assert replay.status == 401


async def test_signing_out_closes_the_live_feed_the_session_opened(console):
    me = await (await sign_in(console)).json()
    async with console.ws_connect("/api/v1/events") as ws:  # with the cookie, no token
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        assert (await console.post("/api/v1/sign-out", headers={"X-CSRF-Token": me["csrf_token"]})).status == 204
        closing = await ws.receive(timeout=5)
        assert (closing.type, closing.data, closing.extra) == (WSMsgType.CLOSE, 1008, "signed out")


async def test_a_new_password_or_a_revoke_signs_the_user_out(console, sessions):
    await sign_in(console)
    async with sessions() as session:
        await set_password(session, "operator-1", hash_password("another password"))
    assert (await console.get("/api/v1/me")).status == 401
    assert (await sign_in(console, password="another password")).status == 200
    async with sessions() as session:
        await revoke_user(session, "operator-1")
    assert (await console.get("/api/v1/me")).status == 401
    assert (await sign_in(console, password="another password")).status == 401


async def test_wrong_passwords_are_throttled_per_user(console):
    for _ in range(USER_FAILURES):
        assert (await sign_in(console, password="guess")).status == 401
    # Even the right password waits now: a guesser learns nothing more.
    blocked = await sign_in(console)
    assert blocked.status == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 15 * 60
    assert (await blocked.json())["error"] == "too-many-requests"
    # Another user at the same address is not held up by it.
    assert (await sign_in(console, "supervisor-1")).status == 200


async def test_wrong_passwords_are_throttled_per_address(console):
    for n in range(ADDRESS_FAILURES):
        assert (await sign_in(console, f"made-up-{n}", "guess")).status == 401
    assert (await sign_in(console, "supervisor-1")).status == 429


async def test_sign_in_from_another_site_and_a_cross_site_websocket_are_refused(console):
    assert (await sign_in(console, Origin="https://evil.example")).status == 403
    assert (await sign_in(console, Origin=str(console.make_url("")).rstrip("/"))).status == 200
    response = await console.get("/api/v1/events", headers={
        "Origin": "https://evil.example", "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status == 403


@pytest.mark.parametrize("body", ["not json", "[]", '{"name": "x"}', '{"name": 1, "password": "p"}'])
async def test_a_malformed_sign_in_is_a_clear_400(console, body):
    response = await console.post("/api/v1/sign-in", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"] == "invalid-input"


def test_user_add_and_user_password_take_the_password_from_stdin(database_url, capsys, monkeypatch):
    monkeypatch.setenv("HOTLINE_DATABASE_URL", database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["user", "add", "li.operator", "--role", "operator", "--password"]) == 0
    assert "sign in to the console with their password" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "password", "li.operator"]) == 2
    assert capsys.readouterr().err == "hotline: error: a password needs at least 8 characters\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("a new password\n"))
    assert main(["user", "password", "li.operator"]) == 0
    assert capsys.readouterr().out == "user li.operator: password set; their console sessions were signed out\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("a new password\n"))
    assert main(["user", "password", "nobody"]) == 2
    assert "no user 'nobody'" in capsys.readouterr().err
