"""The OpenTelemetry SDK in memory, for tests: the app itself only uses the API.

The global tracer and meter providers can be set once per process, so ``telemetry_capture()``
installs them on first use and hands out the same in-memory exporter and reader after that.
``Capture.clear()`` forgets earlier spans; metrics are cumulative, so a test compares
``totals()`` before and after what it measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Capture:
    """Finished spans and collected metric points of this process."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def clear(self) -> None:
        """Forget the spans finished so far."""
        self.spans.clear()

    def finished_spans(self) -> list[ReadableSpan]:
        """Every span finished since the last clear."""
        return list(self.spans.get_finished_spans())

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Every metric's data points as (attributes, point), by metric name."""
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        found.setdefault(metric.name, []).append((dict(point.attributes), point))
        return found

    def totals(self, name: str) -> dict[frozenset[tuple[str, Any]], float]:
        """A counter's value (or a histogram's count and sum) per attribute set, so far."""
        totals: dict[frozenset[tuple[str, Any]], float] = {}
        for attributes, point in self.points().get(name, []):
            key = frozenset(attributes.items())
            if hasattr(point, "sum") and hasattr(point, "count"):
                totals[key | {("__count__", True)}] = point.count
                totals[key | {("__sum__", True)}] = point.sum
            else:
                totals[key] = point.value
        return totals


def moved(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    """What changed between two ``totals()`` readings (zero changes left out)."""
    return {
        key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)
    }


_capture: Capture | None = None


def telemetry_capture() -> Capture:
    """The process's in-memory capture (installed on first call)."""
    global _capture
    if _capture is None:
        spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        _capture = Capture(spans, reader)
    return _capture
