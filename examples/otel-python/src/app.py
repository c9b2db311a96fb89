"""An HTTP app (spin-sdk 5's world, WASIp3) whose own span joins the request's trace
through `wasi:otel`, as an OpenTelemetry SDK's WASI span processor does it: the span's
parent is the host's `outer_span_context()`, the host hears of it at `on_start` (so the
key-value call made inside it hangs under it) and gets it whole at `on_end`. It also
exports a counter through `wasi:otel/metrics` (what an OpenTelemetry SDK's WASI metric
exporter sends: the guest's own resource, scope and points) and emits a log record
through `wasi:otel/logs`.

A world of the app's own (`wit/app.wit`) gets bindings generated at build time (module
`wit_world`), so the handler is written against them."""

import os
import time

import componentize_py_async_support
import wit_world
from componentize_py_async_support.streams import ByteStreamWriter
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import logs, metrics, tracing
from wit_world.imports.spin_key_value_key_value import Store
from wit_world.imports.wasi_clocks_wall_clock_0_2_0 import Datetime
from wit_world.imports.wasi_http_types_0_3_0 import Fields, Request, Response
from wit_world.imports.wasi_otel_types import InstrumentationScope, KeyValue, Resource

SCOPE = InstrumentationScope(name="otel-python", version="0.1.0", schema_url=None, attributes=[])


def now() -> Datetime:
    ns = time.time_ns()
    return Datetime(seconds=ns // 1_000_000_000, nanoseconds=ns % 1_000_000_000)


class GuestSpan:
    """One span of the guest's, under the host's span of this request."""

    def __init__(self, name: str):
        outer = tracing.outer_span_context()
        trace_id = outer.trace_id
        if trace_id == "0" * 32:
            trace_id = os.urandom(16).hex()
        self.context = tracing.SpanContext(
            trace_id=trace_id,
            span_id=os.urandom(8).hex(),
            trace_flags=outer.trace_flags,
            is_remote=False,
            trace_state=outer.trace_state,
        )
        self.parent = outer.span_id
        self.name = name
        self.attributes: list[KeyValue] = []
        self.start = now()
        tracing.on_start(self.context)

    def set(self, key: str, json_value: str) -> None:
        self.attributes.append(KeyValue(key=key, value=json_value))

    def end(self) -> None:
        tracing.on_end(
            tracing.SpanData(
                span_context=self.context,
                parent_span_id=self.parent,
                span_kind=tracing.SpanKind.INTERNAL,
                name=self.name,
                start_time=self.start,
                end_time=now(),
                attributes=self.attributes,
                events=[],
                links=[],
                status=tracing.Status_Ok(),
                instrumentation_scope=SCOPE,
                dropped_attributes=0,
                dropped_events=0,
                dropped_links=0,
            )
        )


def export_visit(started: Datetime) -> str:
    """Exports one visit (a delta sum); what the host answered, for the response."""
    visit = metrics.SumDataPoint(
        attributes=[KeyValue(key="page", value='"/"')],
        value=metrics.MetricNumber_U64(1),
        exemplars=[],
    )
    try:
        metrics.export(
            metrics.ResourceMetrics(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value='"otel-python"')],
                    schema_url=None,
                ),
                scope_metrics=[
                    metrics.ScopeMetrics(
                        scope=SCOPE,
                        metrics=[
                            metrics.Metric(
                                name="visits",
                                description="Visits counted",
                                unit="1",
                                data=metrics.MetricData_U64Sum(
                                    metrics.Sum(
                                        data_points=[visit],
                                        start_time=started,
                                        time=now(),
                                        temporality=metrics.Temporality.DELTA,
                                        is_monotonic=True,
                                    )
                                ),
                            )
                        ],
                    )
                ],
            )
        )
        return ""
    except Err as e:
        return " (metrics: %s)" % e.value


async def write(tx: ByteStreamWriter, body: bytes) -> None:
    with tx:
        await tx.write_all(body)


class HttpHandler(exports.HttpHandler):
    async def handle(self, request: Request) -> Response:
        span = GuestSpan("count-visit")
        store = await Store.open("default")
        visits = int((await store.get("visits") or b"0").decode()) + 1
        await store.set("visits", str(visits).encode())
        span.set("visits", str(visits))
        span.end()
        logs.on_emit(
            logs.LogRecord(
                timestamp=now(),
                observed_timestamp=None,
                severity_text="INFO",
                severity_number=9,
                body='"visit %d counted"' % visits,
                attributes=None,
                event_name=None,
                resource=None,
                instrumentation_scope=SCOPE,
                trace_id=span.context.trace_id,
                span_id=span.context.span_id,
                trace_flags=span.context.trace_flags,
            )
        )
        exported = export_visit(span.start)
        body = bytes("visit %d, trace %s%s\n" % (visits, span.context.trace_id, exported), "utf-8")
        tx, rx = wit_world.byte_stream()
        componentize_py_async_support.spawn(write(tx, body))
        _, trailers = wit_world.result_option_wasi_http_types_0_3_0_fields_wasi_http_types_0_3_0_error_code_future(
            lambda: Ok(None)
        )
        headers = Fields.from_list([("content-type", b"text/plain; charset=utf-8")])
        response, _ = Response.new(headers, rx, trailers)
        return response
