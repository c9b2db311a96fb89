"""HTTP middleware (the `wasi:http/middleware@0.3.0` world): passes each request on
to the component it wraps and adds an `x-middleware` header to the response."""

import wit_world
from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports import handler
from wit_world.imports.wasi_http_types import Response


class Handler(exports.Handler):
    async def handle(self, request):
        response = await handler.handle(request)
        headers = response.get_headers().clone()
        headers.append("x-middleware", b"python")
        status = response.get_status_code()
        _, done = wit_world.result_unit_wasi_http_types_error_code_future(lambda: Ok(None))
        body, trailers = Response.consume_body(response, done)
        wrapped, _ = Response.new(headers, body, trailers)
        wrapped.set_status_code(status)
        return wrapped
