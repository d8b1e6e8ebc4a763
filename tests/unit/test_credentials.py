"""PimsCredentials: the JSON the original stores, and no password in repr."""

from __future__ import annotations

import json

import pytest

from pims_sync.domain.credentials import PimsCredentials, check_base_url
from pims_sync.errors import InvalidInputError


def test_reads_company_id() -> None:
    creds = PimsCredentials.from_json('{"username":"u","password":"p","companyId":"c-1"}')
    assert creds == PimsCredentials("u", "p", "c-1", None)


def test_reads_practice_id_as_company_id() -> None:
    text = '{"username":"u","password":"p","practiceId":"practice-123"}'
    assert PimsCredentials.from_json(text).company_id == "practice-123"


def test_company_id_wins_over_practice_id_and_numbers_are_text() -> None:
    text = '{"username":"u","password":"p","companyId":42,"practiceId":"x"}'
    assert PimsCredentials.from_json(text).company_id == "42"


def test_empty_company_id_is_none() -> None:
    assert PimsCredentials.from_json('{"username":"u","password":"p"}').company_id is None
    text = '{"username":"u","password":"p","companyId":""}'
    assert PimsCredentials.from_json(text).company_id is None


def test_reads_base_url() -> None:
    text = '{"username":"u","password":"p","baseUrl":"https://eu.idexxneo.com/"}'
    assert PimsCredentials.from_json(text).base_url == "https://eu.idexxneo.com"


def test_to_json_writes_the_original_keys() -> None:
    assert json.loads(PimsCredentials("u", "p", "c").to_json()) == {
        "username": "u",
        "password": "p",
        "companyId": "c",
    }
    with_url = json.loads(PimsCredentials("u", "p", None, "http://localhost:1").to_json())
    assert with_url == {
        "username": "u",
        "password": "p",
        "companyId": "",
        "baseUrl": "http://localhost:1",
    }


def test_round_trip_unicode() -> None:
    creds = PimsCredentials("ü@example.com", "pässwörd 密码", "c", "https://x.example")
    assert PimsCredentials.from_json(creds.to_json()) == creds


def test_repr_hides_the_password() -> None:
    creds = PimsCredentials("user@example.com", "hunter2-secret", "c")
    for text in (repr(creds), str(creds), f"{creds}"):
        assert "hunter2-secret" not in text
        assert "user@example.com" in text


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"username":"u"}',
        '{"password":"p"}',
        '{"username":1,"password":"p"}',
        '{"username":"","password":"p"}',
        '{"username":"u","password":""}',
        '{"username":"u","password":"p","baseUrl":"ftp://x"}',
    ],
)
def test_bad_documents_are_refused_without_echoing_values(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        PimsCredentials.from_json(text.replace('"p"', '"secret-pw"'))
    assert "secret-pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8780", True),
        ("http://127.1:8780", True),  # 127.0.0.1, short form
        ("http://app.localhost:8780", True),
        ("http://[::1]:8780/", True),
        ("https://us.idexxneo.com", True),
        ("https://8.8.8.8", True),
        ("http://us.idexxneo.com", False),  # plain http off the machine
        ("https://0251.0376.0251.0376/", False),  # 169.254.169.254 in octal
        ("https://0xa9fea9fe/", False),  # ... in hexadecimal
        ("https://[::ffff:169.254.169.254]/", False),  # ... mapped into IPv6
        ("https://0.0.0.0", False),
        ("https://172.16.4.4", False),
        ("https://[fd00::1]", False),  # IPv6 unique local
        ("https://@us.idexxneo.com", False),
        ("https://us.idexxneo.com?", False),
        ("https://1.2.3.999", False),
    ],
)
def test_base_urls_a_password_may_be_sent_to(url: str, allowed: bool) -> None:
    if allowed:
        assert check_base_url(url) == url.rstrip("/")
        return
    with pytest.raises(InvalidInputError) as refused:
        check_base_url(url)
    assert url not in str(refused.value)


def test_private_addresses_need_the_setting_but_link_local_never_passes() -> None:
    assert check_base_url("https://172.16.4.4", allow_private=True) == "https://172.16.4.4"
    with pytest.raises(InvalidInputError, match="link-local"):
        check_base_url("https://169.254.169.254", allow_private=True)
