"""HTML clinical notes → plain text."""

from __future__ import annotations

import pytest

from pims_sync.domain.consultations import html_to_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        (None, None),
        ("", None),
        ("<p></p>", None),
        ("<p>S: ok</p><p>O: T 101.8F</p>", "S: ok\nO: T 101.8F"),
        ("line one<br>line&nbsp;two &amp; more", "line one\nline two & more"),
        ("<ul><li>Cerenia</li><li>Diet</li></ul>", "Cerenia\nDiet"),
        ("<p><strong>A:</strong>   Acute   gastritis</p>", "A: Acute gastritis"),
    ],
)
def test_html_to_text(html: str | None, text: str | None) -> None:
    assert html_to_text(html) == text
