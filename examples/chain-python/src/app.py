"""Service chaining (Spin's `*.spin.internal` and `self`): one Wasm serving three
components, each answering as what Spin's request headers say it is.

frontend (route /...):
  /            calls http://backend.spin.internal/greet?name=chain and shows the answer
  /audit       calls the private component at http://audit.spin.internal/log
  /self        calls http://self/api/greet, which the app routes to the backend
  /undeclared  calls http://nobody.spin.internal/, not in allowed_outbound_hosts (refused)
backend (route /api/..., and http://backend.spin.internal/...) and audit (private:
http://audit.spin.internal/... only) answer with the headers Spin gave them.
"""

from urllib.parse import urlparse

from spin_sdk import http
from spin_sdk.http import Request, Response


def text(status: int, body: str) -> Response:
    return Response(status, {"content-type": "text/plain; charset=utf-8"}, bytes(body, "utf-8"))


async def call(url: str) -> Response:
    try:
        answer = await http.send(Request("GET", url, {}, None))
        return text(200, f"frontend got {answer.status}: {answer.body.decode()}")
    except Exception as e:
        return text(502, f"frontend could not call {url}: {e}\n")


class HttpHandler(http.Handler):
    async def handle_request(self, request: Request) -> Response:
        h = request.headers
        host = urlparse(h.get("spin-full-url", "")).hostname or ""
        path_info = h.get("spin-path-info", "")
        if host.endswith(".spin.internal") or h.get("spin-component-route") == "/api":
            return text(200, f"{host} served {path_info} (matched {h.get('spin-matched-route')}, "
                             f"client {h.get('spin-client-addr')})\n")
        if path_info in ("", "/"):
            return await call("http://backend.spin.internal/greet?name=chain")
        if path_info == "/audit":
            return await call("http://audit.spin.internal/log")
        if path_info == "/self":
            return await call("http://self/api/greet")
        if path_info == "/undeclared":
            return await call("http://nobody.spin.internal/")
        return text(404, "no such page\n")
