"""The Standard Webhooks signature: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""

from __future__ import annotations

import json
from datetime import datetime
from math import floor

from standardwebhooks import Webhook

from pims_sync.shapes.webhooks import WebhookBody

CONTENT_TYPE = "application/json"


def body_bytes(body: WebhookBody) -> bytes:
    """The exact bytes sent (and signed): compact JSON, UTF-8."""
    return json.dumps(body.wire(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_headers(*, secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """`Webhook-Id`, `Webhook-Timestamp` (Unix seconds of `at`) and `Webhook-Signature`."""
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=at, data=body)
    return {
        "Content-Type": CONTENT_TYPE,
        "Webhook-Id": message_id,
        "Webhook-Timestamp": str(floor(at.timestamp())),
        "Webhook-Signature": signature,
    }
