"""A Redis-triggered app with an HTTP side (spin-sdk 3.4.1, the `spin-all` world).

Redis trigger (component `listener`), for each message on `redis_channel`:
  deny:...   connects to a Redis not in allowed_outbound_hosts (refused; the message
             is then stored as `denied: <error>`)
  fail       fails the handler (the runtime logs it)
  anything   appended to the list `received` on the Redis at `redis_address`

HTTP (component `web`):
  GET  /           what this app does
  GET  /received   the list `received`, one message per line
  POST /publish    publishes the request body on `redis_channel`
"""

from spin_sdk import http, redis, variables
from spin_sdk.http import Request, Response
from spin_sdk.wit import exports
from spin_sdk.wit.imports.redis import RedisParameter_Binary, RedisParameter_Int64
from spin_sdk.wit.imports.redis_types import Error as RedisError
from spin_sdk.wit.types import Err


def store(message: bytes) -> None:
    with redis.open(variables.get("redis_address")) as db:
        db.execute("RPUSH", [RedisParameter_Binary(b"received"),
                             RedisParameter_Binary(message)])


class InboundRedis(exports.InboundRedis):
    def handle_message(self, message: bytes) -> None:
        if message == b"fail":
            raise Err(RedisError.ERROR)
        if message.startswith(b"deny:"):
            try:
                redis.open("redis://example.com:6379")
                store(b"denied: not refused")
            except Err as e:
                store(f"denied: {e.value}".encode())
            return
        store(message)


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        path = request.uri.split("?")[0]
        try:
            if path == "/":
                return Response(200, {"content-type": "text/plain"},
                                b"redis-python: GET /received, POST /publish\n")
            with redis.open(variables.get("redis_address")) as db:
                if path == "/received" and request.method == "GET":
                    items = db.execute("LRANGE", [RedisParameter_Binary(b"received"),
                                                  RedisParameter_Int64(0),
                                                  RedisParameter_Int64(-1)])
                    body = b"".join(item.value + b"\n" for item in items)
                    return Response(200, {"content-type": "text/plain"}, body)
                if path == "/publish" and request.method == "POST":
                    db.publish(variables.get("redis_channel"), request.body or b"")
                    return Response(200, {"content-type": "text/plain"}, b"published\n")
        except Err as e:
            return Response(500, {"content-type": "text/plain"}, f"error: {e.value}\n".encode())
        return Response(404, {"content-type": "text/plain"}, b"no such route\n")
