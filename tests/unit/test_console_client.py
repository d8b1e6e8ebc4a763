"""The console's client reads the service's answers as their shapes, and says when one is not."""

from __future__ import annotations

import json

import httpx
import pytest

from pims_sync.cli.console.client import ServiceClient, ServiceError
from pims_sync.domain.runs import RunStatus

RUN = {
    "syncId": "6f7b7a56-4a43-4bc4-8f3c-7d1e4cb1e0a1",
    "type": "inbound",
    "status": "completed",
    "triggeredBy": "api",
    "startedAt": "2026-06-11T13:00:00.000Z",
    "completedAt": "2026-06-11T13:00:02.500Z",
    "durationMs": 2500,
    "stats": {"appointmentsFound": 4, "casesCreated": 4},
    "error": None,
}


def client_answering(body: object, status: int = 200) -> ServiceClient:
    """A client whose service answers every request with this JSON body."""

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode())

    client = ServiceClient("http://service.test", "a" * 64)
    transport = httpx.MockTransport(answer)
    client._http = httpx.AsyncClient(transport=transport, base_url=client.url)
    return client


async def test_answers_are_read_as_their_shapes() -> None:
    body = {"success": True, "runs": [RUN], "total": 1, "successRate": 100.0}
    history = await client_answering(body).history(limit=1)
    [run] = history.runs
    assert (run.status, run.duration_ms, run.stats.cases_created) == (RunStatus.COMPLETED, 2500, 4)
    assert run.started_at.isoformat() == "2026-06-11T13:00:00+00:00"


async def test_an_answer_of_another_shape_is_a_service_error() -> None:
    with pytest.raises(ServiceError) as raised:
        await client_answering({"status": "healthy", "version": "1.0"}).health()
    message = raised.value.message
    assert message.startswith("the service at http://service.test answered an unexpected Health")
    assert "(service: Field required)" in message
    unhealthy = {"status": "sleepy", "checks": []}
    with pytest.raises(ServiceError):
        await client_answering(unhealthy, status=503).health()
