"""The dashboard's actions, made by calling the API's own routes in-process.

Each action is the HTTP request an API client would send, with the signed-in key in
`X-API-Key`, answered by the same app: permissions, one run per clinic and validation
are the API's, and the dashboard has no other way to change anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

INTERNAL_BASE = "http://dashboard.internal"
# A synchronous reconciliation preview (`dryRun`) may take as long as a run.
TIMEOUT = httpx.Timeout(600.0)


@dataclass(frozen=True, slots=True)
class Answer:
    """The API's answer: status and JSON body (an error envelope when not 2xx)."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the API accepted the request."""
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        """The error envelope's message, or the status."""
        return str(self.body.get("error") or self.body.get("message") or f"HTTP {self.status}")


async def call_api(
    app: FastAPI, api_key: str, method: str, path: str, body: dict[str, Any] | None = None
) -> Answer:
    """Send one API request to the app itself as the signed-in key."""
    transport = httpx.ASGITransport(app=app)
    headers = {"X-API-Key": api_key}
    async with httpx.AsyncClient(
        transport=transport, base_url=INTERNAL_BASE, timeout=TIMEOUT
    ) as http:
        response = await http.request(method, path, json=body, headers=headers)
    try:
        found = response.json()
    except ValueError:
        found = {}
    return Answer(response.status_code, found if isinstance(found, dict) else {"value": found})
