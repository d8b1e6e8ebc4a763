"""Metrics: each instance has its own registry; the helpers feed the families."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pims_sync.metrics import OTHER_METHOD, Metrics, method_label, process_memory


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_two_instances_do_not_collide() -> None:
    first, second = Metrics(), Metrics()
    first.run_finished(sync_type="inbound", outcome="completed", seconds=1.5)
    key = ("pims_sync_runs_total", (("outcome", "completed"), ("type", "inbound")))
    assert samples(first)[key] == 1
    assert key not in samples(second)


def test_helpers_feed_their_families() -> None:
    metrics = Metrics()
    metrics.phase_finished(phase="cases", seconds=0.2)
    metrics.pims_request(endpoint="calendar", status=200, seconds=0.05)
    metrics.cases_written_by("created", 3)
    metrics.cases_written_by("updated", 0)
    values = samples(metrics)
    assert values[("pims_sync_phase_duration_seconds_count", (("phase", "cases"),))] == 1
    assert values[("pims_sync_pims_requests_total", (("endpoint", "calendar"), ("status", "200")))]
    assert values[("pims_sync_cases_written_total", (("operation", "created"),))] == 3
    assert ("pims_sync_cases_written_total", (("operation", "updated"),)) not in values
    assert values[("pims_sync_process_memory_bytes", (("kind", "rss"),))] > 0


def test_process_memory_is_positive() -> None:
    memory = process_memory()
    assert memory.rss > 0
    assert memory.heap_used > 0
    assert memory.heap_total > 0


def test_http_labels_take_methods_from_a_fixed_set() -> None:
    metrics = Metrics()
    for method in ("GET", "PATCH", "BREW", "get", "X" * 500):
        metrics.observe_http(method=method, route="/health", status=405, seconds=0.01)
    methods = {
        dict(labels)["method"]: value
        for (name, labels), value in samples(metrics).items()
        if name == "pims_sync_http_requests_total"
    }
    assert methods == {"GET": 1, "PATCH": 1, "OTHER": 3}
    assert method_label("DELETE") == "DELETE"
    assert method_label("delete") == OTHER_METHOD
