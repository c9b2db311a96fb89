"""An HTTP app (spin-sdk 5's world, WASIp3) that imports `example:greeter/greet`:
Spin (or this runtime) composes the greeter component in when it loads the app.

A world of the app's own (`wit/app.wit`) gets bindings generated at build time
(module `wit_world`), so the handler is written against them rather than against
`spin_sdk.http`, whose classes belong to the SDK's prebuilt bindings."""

import componentize_py_async_support
import wit_world
from componentize_py_async_support.streams import ByteStreamWriter
from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports import greet
from wit_world.imports.wasi_http_types_0_3_0 import Fields, Request, Response


async def write(tx: ByteStreamWriter, body: bytes) -> None:
    with tx:
        await tx.write_all(body)


class HttpHandler(exports.HttpHandler):
    async def handle(self, request: Request) -> Response:
        body = bytes(greet.greet("Kubernetes") + "\n", "utf-8")
        tx, rx = wit_world.byte_stream()
        componentize_py_async_support.spawn(write(tx, body))
        _, trailers = wit_world.result_option_wasi_http_types_0_3_0_fields_wasi_http_types_0_3_0_error_code_future(
            lambda: Ok(None)
        )
        headers = Fields.from_list([("content-type", b"text/plain; charset=utf-8")])
        response, _ = Response.new(headers, rx, trailers)
        return response
