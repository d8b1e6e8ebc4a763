"""Login form, sessions and their expiry, login variants, clinics chosen by company id."""

from __future__ import annotations

import re

import httpx

from tests.simulator.conftest import NOW, client_for, login, make_app, set_clock, week


async def test_login_page_has_the_documented_form(anonymous: httpx.AsyncClient) -> None:
    page = (await anonymous.get("/login")).text
    for field in ("company_id", "username", "password"):
        assert re.search(rf"<input[^>]*name='{field}'", page), field
    assert "<button type='submit'>" in page
    assert "type='email'" in page
    assert "type='password'" in page


async def test_wrong_password_rerenders_the_form_with_an_error(
    anonymous: httpx.AsyncClient,
) -> None:
    response = await login(anonymous, password="nope")
    assert response.status_code == 200
    assert "class='error-message'" in response.text
    assert "Invalid username or password" in response.text
    assert not any("session" in name for name in anonymous.cookies)
    stats = (await anonymous.get("/__sim__/stats")).json()
    assert (stats["logins"], stats["loginFailures"]) == (0, 1)


async def test_login_redirects_away_and_sets_an_http_only_session_cookie(
    anonymous: httpx.AsyncClient,
) -> None:
    response = await login(anonymous)
    assert response.status_code == 302
    assert "/login" not in response.headers["location"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("neo_session=")
    assert "HttpOnly" in cookie
    assert "Path=/" in cookie
    shell = await anonymous.get(response.headers["location"])
    assert shell.status_code == 200
    assert "id='dashboard_shell'" in shell.text
    assert (await anonymous.get("/__sim__/stats")).json()["logins"] == 1


async def test_pages_and_json_redirect_to_login_without_a_session(
    anonymous: httpx.AsyncClient,
) -> None:
    for path in ("/", "/schedule", "/appointments/getCalendarEventData?start=x&end=y"):
        response = await anonymous.get(path)
        assert (response.status_code, response.headers["location"]) == (302, "/login")


async def test_expired_session_answers_401_when_configured(anonymous: httpx.AsyncClient) -> None:
    await anonymous.post("/__sim__/settings", json={"sessionExpiredResponse": "401"})
    response = await anonymous.get("/consultations/1/page-data")
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
    assert (await anonymous.get("/")).status_code == 302  # pages still redirect


async def test_idle_expiry_follows_the_simulated_clock(client: httpx.AsyncClient) -> None:
    await client.post("/__sim__/clock", json={"advanceMinutes": 19})
    assert (await client.get("/")).status_code == 200  # used: idle timer restarts
    await client.post("/__sim__/clock", json={"advanceMinutes": 19})
    assert (await client.get("/")).status_code == 200
    await client.post("/__sim__/clock", json={"advanceMinutes": 21})
    assert (await client.get("/")).status_code == 302


async def test_absolute_expiry_after_eight_hours_even_when_busy(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(31):  # 31 × 15 min = 7 h 45 min
        await client.post("/__sim__/clock", json={"advanceMinutes": 15})
        assert (await client.get("/")).status_code == 200
    await client.post("/__sim__/clock", json={"advanceMinutes": 16})
    assert (await client.get("/")).status_code == 302


async def test_expire_all_sessions(client: httpx.AsyncClient) -> None:
    assert (await client.get("/__sim__/sessions")).json() == {"active": 1}
    assert (await client.post("/__sim__/sessions/expire")).json()["expired"] == 1
    response = await client.get("/appointments/getAppointmentView")
    assert response.status_code == 302
    assert (await login(client)).status_code == 302
    assert (await client.get("/appointments/getAppointmentView")).status_code == 200


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    await client.get("/logout")
    assert (await client.get("/")).status_code == 302


async def test_no_company_field_variant(anonymous: httpx.AsyncClient) -> None:
    await anonymous.post("/__sim__/settings", json={"loginVariant": "no-company-field"})
    page = (await anonymous.get("/login")).text
    assert "company_id" not in page
    assert "name='username'" in page
    response = await anonymous.post(
        "/login", data={"username": "vet@example.com", "password": "simulator-password"}
    )
    assert response.status_code == 302


async def test_two_factor_variant_gives_no_session(anonymous: httpx.AsyncClient) -> None:
    await anonymous.post("/__sim__/settings", json={"loginVariant": "2fa"})
    response = await login(anonymous)
    assert response.status_code == 200
    assert "name='code'" in response.text
    assert not anonymous.cookies
    assert (await anonymous.get("/")).status_code == 302


async def test_changed_markup_variant_breaks_documented_selectors(
    anonymous: httpx.AsyncClient,
) -> None:
    await anonymous.post("/__sim__/settings", json={"loginVariant": "changed"})
    page = (await anonymous.get("/login")).text
    assert "name='username'" not in page
    assert "type='password'" not in page
    assert "<button" not in page
    assert "class='error-message'" not in page
    assert (await login(anonymous)).status_code == 200  # documented field names: refused
    redesigned = {
        "practice": "1001",
        "login[email]": "vet@example.com",
        "login[secret]": "simulator-password",
    }
    assert (await anonymous.post("/login", data=redesigned)).status_code == 302


async def test_unknown_setting_is_refused(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/__sim__/settings", json={"loginVariant": "bogus"})
    assert response.status_code == 400
    assert (await anonymous.post("/__sim__/settings", json={"nope": 1})).status_code == 400


async def test_each_company_id_logs_into_its_own_clinic() -> None:
    app = make_app(clinics=2)
    async with client_for(app) as first, client_for(app) as second:
        await set_clock(first, NOW)
        assert (await login(first, company_id="1001")).status_code == 302
        assert (await login(second, company_id="1002")).status_code == 302
        ids_first = {event["id"] for event in await week(first)}
        ids_second = {event["id"] for event in await week(second)}
        assert ids_first
        assert ids_second
        assert not ids_first & ids_second
        unknown = await login(second, company_id="9999")
        assert unknown.status_code == 200
        assert "error-message" in unknown.text


async def test_credentials_can_be_changed_per_clinic(anonymous: httpx.AsyncClient) -> None:
    await anonymous.post("/__sim__/credentials", json={"clinic": "1001", "password": "rotated"})
    assert (await login(anonymous)).status_code == 200
    assert (await login(anonymous, password="rotated")).status_code == 302


async def test_expired_session_can_answer_with_the_login_page(
    anonymous: httpx.AsyncClient,
) -> None:
    await anonymous.post("/__sim__/settings", json={"sessionExpiredResponse": "login-page"})
    response = await anonymous.get("/consultations/1/page-data")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "name='password'" in response.text
