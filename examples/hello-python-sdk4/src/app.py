"""The sample Spin app on the Spin 4.0 Python SDK (spin-sdk 4.0.0 with componentize-py 0.23:
WASIp3 at its release candidate, `wasi:http/handler@0.3.0-rc-2026-03-15`).

Routes:
  /            greeting from the `greeting` variable (spin:variables@3)
  /count       a visit counter in the `default` key-value store (spin:key-value@3)
  /wasi-count  the same counter through wasi:keyvalue (atomic increment)
  /file        the contents of /static/hello.txt (a `files` mount)
  /outbound    fetches the `upstream` variable's URL (wasi:http/client@0.3.0-rc-2026-03-15, allowed)
  /forbidden   fetches a host not in allowed_outbound_hosts (refused by the runtime)
  /echo        streams the request body back as it arrives (no buffering)
  /spin        loops forever (stopped by the runtime's request timeout)
  /exit        exits the instance mid-request (a trap)
  /instance-requests  how many requests this instance has served (1 unless instances
               are reused: SPIN_HTTP_MAX_INSTANCE_REUSE_COUNT)
"""

import os

import componentize_py_async_support
from componentize_py_async_support.streams import ByteStreamReader, ByteStreamWriter
from spin_sdk import http, key_value, variables, wit
from spin_sdk.http import Request, Response
from spin_sdk.wit.imports import wasi_keyvalue_atomics_0_2_0_draft2 as atomics
from spin_sdk.wit.imports import wasi_keyvalue_store_0_2_0_draft2 as wasi_kv
from spin_sdk.wit.imports.wasi_http_types_0_3_0_rc_2026_03_15 import Fields
from spin_sdk.wit.imports.wasi_http_types_0_3_0_rc_2026_03_15 import Request as WasiRequest
from spin_sdk.wit.imports.wasi_http_types_0_3_0_rc_2026_03_15 import Response as WasiResponse


# Module state lives as long as the instance: one request, unless instances are reused.
served = 0


def text(status: int, body: str) -> Response:
    return Response(status, {"content-type": "text/plain; charset=utf-8"}, bytes(body, "utf-8"))


async def copy(rx: ByteStreamReader, tx: ByteStreamWriter) -> None:
    with rx, tx:
        while not rx.writer_dropped:
            chunk = await rx.read(64 * 1024)
            if chunk:
                await tx.write_all(chunk)


class HttpHandler(http.Handler):
    async def handle(self, request: WasiRequest) -> WasiResponse:
        if request.get_path_with_query() == "/echo":
            body, _trailers = WasiRequest.consume_body(request, http._unit_future())
            tx, rx = wit.byte_stream()
            componentize_py_async_support.spawn(copy(body, tx))
            headers = Fields.from_list([("content-type", b"application/octet-stream")])
            return WasiResponse.new(headers, rx, http._trailers_future())[0]
        return await super().handle(request)

    async def handle_request(self, request: Request) -> Response:
        global served
        served += 1
        path = request.uri.split("?")[0]
        if path == "/instance-requests":
            return text(200, f"{served}\n")
        if path == "/count":
            with await key_value.open_default() as store:
                raw = await store.get("visits")
                count = int(raw.decode()) + 1 if raw else 1
                await store.set("visits", str(count).encode())
            return text(200, f"visits={count}\n")
        if path == "/wasi-count":
            bucket = wasi_kv.open("default")
            count = atomics.increment(bucket, "wasi-visits", 1)
            return text(200, f"wasi-visits={count}\n")
        if path == "/file":
            with open("/static/hello.txt") as f:
                return text(200, f.read())
        if path == "/outbound":
            upstream = await http.send(Request("GET", await variables.get("upstream"), {}, None))
            return text(200, f"upstream said: {upstream.body.decode()}")
        if path == "/forbidden":
            try:
                await http.send(Request("GET", "http://example.com/", {}, None))
                return text(200, "unexpectedly allowed\n")
            except Exception as e:
                return text(403, f"refused: {e}\n")
        if path == "/spin":
            while True:
                pass
        if path == "/exit":
            os._exit(3)
        greeting = await variables.get("greeting")
        return text(200, f"{greeting} from Spin on Kubernetes, in Python (SDK 4.0)!\n")
