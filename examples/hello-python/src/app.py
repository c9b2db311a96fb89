"""The bundled sample Spin app, on the official Spin Python SDK.

Routes:
  /            greeting from the `greeting` variable
  /count       a visit counter kept in the `default` key-value store
  /file        the contents of /static/hello.txt (a `files` mount)
  /outbound    fetches the `upstream` variable's URL (allowed by allowed_outbound_hosts)
  /forbidden   fetches a host not in allowed_outbound_hosts (refused by the runtime)
"""

from spin_sdk import http, key_value, variables
from spin_sdk.http import Request, Response


def text(status: int, body: str) -> Response:
    return Response(status, {"content-type": "text/plain; charset=utf-8"}, bytes(body, "utf-8"))


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        path = request.uri.split("?")[0]
        if path == "/count":
            with key_value.open_default() as store:
                raw = store.get("visits")
                count = int(raw.decode()) + 1 if raw else 1
                store.set("visits", str(count).encode())
            return text(200, f"visits={count}\n")
        if path == "/file":
            with open("/static/hello.txt") as f:
                return text(200, f.read())
        if path == "/outbound":
            upstream = http.send(Request("GET", variables.get("upstream"), {}, None))
            return text(200, f"upstream said: {upstream.body.decode()}")
        if path == "/forbidden":
            try:
                http.send(Request("GET", "http://example.com/", {}, None))
                return text(200, "unexpectedly allowed\n")
            except Exception as e:
                return text(403, f"refused: {e}\n")
        greeting = variables.get("greeting")
        return text(200, f"{greeting} from Spin on Kubernetes, in Python!\n")
