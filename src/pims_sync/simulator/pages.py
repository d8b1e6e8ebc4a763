"""The HTML IDEXX serves: the login form (in several markups), the schedule shell, errors."""

from __future__ import annotations

import base64
from html import escape

_STYLE = (
    "body{font-family:sans-serif;background:#f4f6f8}"
    "form,.shell{max-width:360px;margin:80px auto;background:#fff;padding:24px;border-radius:6px}"
    "label{display:block;margin-top:12px}input{width:100%;padding:6px}"
    "button,input[type=submit]{margin-top:16px;padding:8px 16px}"
    ".error-message,.alert-danger{color:#a00;margin-top:12px}"
)


def _page(title: str, body: str, *, csrf: str | None = None) -> str:
    meta = f"<meta name='csrf-token' content='{escape(csrf)}'>" if csrf else ""
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{meta}"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _error(message: str | None, css_class: str) -> str:
    if not message:
        return ""
    return f"<div class='{css_class}' role='alert'>{escape(message)}</div>"


def login_page(
    variant: str,
    *,
    error: str | None = None,
    error_class: str | None = None,
    company_id: str = "",
    csrf: str | None = None,
    delay_ms: int = 0,
) -> str:
    """The `/login` form; `variant` mimics a redesigned or 2FA-enabled IDEXX login.

    `csrf` adds a hidden `_csrf` input; `delay_ms` leaves the form out of the HTML and has
    a script draw it that many milliseconds after the page loads (the error stays in the
    HTML, so a failed login is visible at once).
    """
    changed = variant == "changed"
    alert = _error(error, error_class or ("alert-danger" if changed else "error-message"))
    hidden = f"<input type='hidden' name='_csrf' value='{escape(csrf)}'>" if csrf else ""
    if changed:
        form, title = _changed_form(hidden, "" if delay_ms else alert), "Neo - Sign in"
    else:
        form = _standard_form(variant, company_id, hidden, "" if delay_ms else alert)
        title = "IDEXX Neo - Login"
    if delay_ms:
        return _page(title, alert + _drawn_later(form, delay_ms))
    return _page(title, form)


def _standard_form(variant: str, company_id: str, hidden: str, alert: str) -> str:
    company = (
        ""
        if variant == "no-company-field"
        else "<label for='company_id'>Company ID</label>"
        f"<input id='company_id' name='company_id' type='text' value='{escape(company_id)}'>"
    )
    return (
        "<form method='post' action='/login' id='login-form'>"
        "<h1>IDEXX Neo</h1>"
        f"{hidden}{company}"
        "<label for='username'>Username</label>"
        "<input id='username' name='username' type='email' autocomplete='username'>"
        "<label for='password'>Password</label>"
        "<input id='password' name='password' type='password' autocomplete='current-password'>"
        "<button type='submit'>Login</button>"
        f"{alert}"
        "</form>"
    )


def _changed_form(hidden: str, alert: str) -> str:
    # A redesign: different field names, no <button>, another error class. A client that
    # relies on the documented selectors must notice it cannot log in.
    return (
        "<form method='post' action='/login' class='auth-form'>"
        "<h1>Sign in to Neo</h1>"
        f"{hidden}"
        "<label>Practice <input name='practice' type='text'></label>"
        "<label>E-mail <input name='login[email]' type='text'></label>"
        "<label>Secret <input name='login[secret]' type='text' class='pw'></label>"
        "<input type='submit' value='Sign In'>"
        f"{alert}"
        "</form>"
    )


def _drawn_later(form: str, delay_ms: int) -> str:
    """A placeholder and a script that puts the form in it after `delay_ms`.

    The form travels base64-encoded, so the page's HTML holds no input at all (not even
    inside the script's text) until the script has run.
    """
    encoded = base64.b64encode(form.encode()).decode()
    return (
        "<div id='login-root' class='loading'>Loading…</div>"
        "<script>setTimeout(function () {"
        f"var bytes = Uint8Array.from(atob('{encoded}'), function (c) {{"
        " return c.charCodeAt(0); });"
        "var root = document.getElementById('login-root');"
        "root.innerHTML = new TextDecoder().decode(bytes); root.className = '';"
        f"}}, {int(delay_ms)});</script>"
    )


def two_factor_page() -> str:
    """Shown instead of a session when the 2FA variant is on (no handling exists at HEAD)."""
    body = (
        "<form method='post' action='/login' id='two-factor-form'>"
        "<h1>Two-factor authentication</h1>"
        "<p>Enter the code sent to your phone.</p>"
        "<label for='code'>Code</label><input id='code' name='code' placeholder='code'>"
        "<button type='submit'>Verify</button>"
        "</form>"
    )
    return _page("IDEXX Neo - Verify", body)


def shell_page(
    clinic_name: str, path: str, *, search_box: bool = False, csrf: str | None = None
) -> str:
    """The logged-in application page (the `#dashboard_shell` indicator).

    `search_box` adds the app's header search: a barcode/search input named `code` and a
    zip code input, ordinary fields that must not be taken for a one-time-code form.
    `csrf` puts the session's write token in a `csrf-token` meta tag.
    """
    search = (
        "<form class='global-search' role='search' onsubmit='return false'>"
        "<input name='code' type='text' placeholder='Scan barcode or search' autocomplete='off'>"
        "<input name='zip_code' type='text' placeholder='Zip code'>"
        "<button type='submit'>Search</button>"
        "</form>"
        if search_box
        else ""
    )
    body = (
        "<div id='dashboard_shell' class='shell'>"
        f"{search}"
        f"<h1>{escape(clinic_name)}</h1>"
        f"<p>IDEXX Neo simulator — {escape(path)}</p>"
        "<nav><a href='/schedule'>Schedule</a> · <a href='/logout'>Log out</a></nav>"
        "<div class='user-menu' data-testid='user-menu'>vet</div>"
        "</div>"
    )
    return _page("IDEXX Neo", body, csrf=csrf)


def error_page(status: int) -> str:
    """What a proxy or the app shows instead of JSON when it breaks."""
    body = (
        "<div class='shell'><h1>Something went wrong</h1>"
        f"<p>Error {status}. Please try again later.</p></div>"
    )
    return _page(f"Error {status}", body)
