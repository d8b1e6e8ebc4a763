"""The HTML IDEXX serves: the login form (in several markups), the schedule shell, errors."""

from __future__ import annotations

from html import escape

_STYLE = (
    "body{font-family:sans-serif;background:#f4f6f8}"
    "form,.shell{max-width:360px;margin:80px auto;background:#fff;padding:24px;border-radius:6px}"
    "label{display:block;margin-top:12px}input{width:100%;padding:6px}"
    "button,input[type=submit]{margin-top:16px;padding:8px 16px}"
    ".error-message,.alert-danger{color:#a00;margin-top:12px}"
)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _error(message: str | None, css_class: str) -> str:
    if not message:
        return ""
    return f"<div class='{css_class}' role='alert'>{escape(message)}</div>"


def login_page(variant: str, error: str | None = None, company_id: str = "") -> str:
    """The `/login` form; `variant` mimics a redesigned or 2FA-enabled IDEXX login."""
    if variant == "changed":
        return _changed_login(error)
    company = (
        ""
        if variant == "no-company-field"
        else "<label for='company_id'>Company ID</label>"
        f"<input id='company_id' name='company_id' type='text' value='{escape(company_id)}'>"
    )
    body = (
        "<form method='post' action='/login' id='login-form'>"
        "<h1>IDEXX Neo</h1>"
        f"{company}"
        "<label for='username'>Username</label>"
        "<input id='username' name='username' type='email' autocomplete='username'>"
        "<label for='password'>Password</label>"
        "<input id='password' name='password' type='password' autocomplete='current-password'>"
        "<button type='submit'>Login</button>"
        f"{_error(error, 'error-message')}"
        "</form>"
    )
    return _page("IDEXX Neo - Login", body)


def _changed_login(error: str | None) -> str:
    # A redesign: different field names, no <button>, another error class. A client that
    # relies on the documented selectors must notice it cannot log in.
    body = (
        "<form method='post' action='/login' class='auth-form'>"
        "<h1>Sign in to Neo</h1>"
        "<label>Practice <input name='practice' type='text'></label>"
        "<label>E-mail <input name='login[email]' type='text'></label>"
        "<label>Secret <input name='login[secret]' type='text' class='pw'></label>"
        "<input type='submit' value='Sign In'>"
        f"{_error(error, 'alert-danger')}"
        "</form>"
    )
    return _page("Neo - Sign in", body)


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


def shell_page(clinic_name: str, path: str) -> str:
    """The logged-in application page (the `#dashboard_shell` indicator)."""
    body = (
        "<div id='dashboard_shell' class='shell'>"
        f"<h1>{escape(clinic_name)}</h1>"
        f"<p>IDEXX Neo simulator — {escape(path)}</p>"
        "<nav><a href='/schedule'>Schedule</a> · <a href='/logout'>Log out</a></nav>"
        "<div class='user-menu' data-testid='user-menu'>vet</div>"
        "</div>"
    )
    return _page("IDEXX Neo", body)


def error_page(status: int) -> str:
    """What a proxy or the app shows instead of JSON when it breaks."""
    body = (
        "<div class='shell'><h1>Something went wrong</h1>"
        f"<p>Error {status}. Please try again later.</p></div>"
    )
    return _page(f"Error {status}", body)
