"""Spin's data services from the current Python SDK (spin-sdk 5: spin:sqlite@3.1.0).

Routes:
  /hello        plain text (what the data routes are measured against)
  /query        one SQLite query and one key-value get
  POST /notes   stores the request body as a note in the `default` SQLite database
  GET  /notes   lists the notes, one per line (`id: text`)
  /scratch      counts rows in the `scratch` database (in memory, per runtime config)
  /types        round-trips every SQLite value type through parameters
  /denied       opens a database the manifest does not grant
  /outside      tries to attach a file outside the database (refused by the runtime)
  /redis        sets, increments, reads and lists keys on the Redis at `redis_address`
  /redis-denied connects to a Redis not in allowed_outbound_hosts (refused)
  POST /mqtt    publishes the request body to topic `notes` on the broker at
                `mqtt_address` (at-least-once)
"""

from componentize_py_types import Err
from spin_sdk import http, key_value, mqtt, redis, sqlite, variables
from spin_sdk.http import Request, Response
from spin_sdk.sqlite import Value_Blob, Value_Integer, Value_Real, Value_Text
from spin_sdk.wit.imports.spin_redis_redis_3_0_0 import RedisParameter_Binary
from spin_sdk.wit.imports.spin_sqlite_sqlite_3_1_0 import Value_Null


def text(status: int, body: str) -> Response:
    return Response(status, {"content-type": "text/plain; charset=utf-8"}, bytes(body, "utf-8"))


def error(e: Err) -> Response:
    return text(500, f"{type(e.value).__name__}: {getattr(e.value, 'value', '')}\n")


async def query(db: sqlite.Connection, statement: str, params: list) -> list:
    """All rows of a statement (the SDK streams them)."""
    _columns, stream, done = await db.execute(statement, params)
    rows = []
    with stream:
        while not stream.writer_dropped:
            rows.extend(await stream.read(100))
    result = await done.read()
    if isinstance(result, Err):
        raise result
    return rows


async def notes(request: Request) -> Response:
    with await sqlite.Connection.open_default() as db:
        await query(db, "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)", [])
        if request.method == "POST":
            await query(db, "INSERT INTO notes (body) VALUES (?)", [Value_Text((request.body or b"").decode())])
            return text(201, f"note {await db.last_insert_rowid()}\n")
        rows = await query(db, "SELECT id, body FROM notes ORDER BY id", [])
        return text(200, "".join(f"{r.values[0].value}: {r.values[1].value}\n" for r in rows))


async def scratch() -> Response:
    with await sqlite.Connection.open("scratch") as db:
        await query(db, "CREATE TABLE IF NOT EXISTS hits (at INTEGER)", [])
        await query(db, "INSERT INTO hits VALUES (1)", [])
        rows = await query(db, "SELECT count(*) FROM hits", [])
        return text(200, f"scratch hits={rows[0].values[0].value}\n")


async def types() -> Response:
    with await sqlite.Connection.open_default() as db:
        values = [Value_Integer(-7), Value_Real(1.5), Value_Text("héllo"), Value_Blob(b"\x00\xff"), Value_Null()]
        rows = await query(db, "SELECT ?, ?, ?, ?, ?", values)
        shown = [f"{type(v).__name__}={getattr(v, 'value', None)!r}" for v in rows[0].values]
        return text(200, " ".join(shown) + "\n")


async def query_route() -> Response:
    with await sqlite.Connection.open_default() as db:
        rows = await query(db, "SELECT count(*) FROM sqlite_schema", [])
    with await key_value.open_default() as store:
        value = await store.get("greeting")
    return text(200, f"tables={rows[0].values[0].value} greeting={value!r}\n")


async def redis_round_trip() -> Response:
    db = await redis.open(await variables.get("redis_address"))
    await db.set("greeting", b"hello from Python")
    count = await db.incr("visits")
    await db.sadd("langs", ["python", "rust"])
    members = sorted(await db.smembers("langs"))
    pong = await db.execute("PING", [])
    echoed = await db.execute("ECHO", [RedisParameter_Binary(b"echo")])
    greeting = await db.get("greeting")
    return text(200, f"{greeting.decode()} visits={count} langs={','.join(members)} "
                     f"ping={pong[0].value} echo={echoed[0].value.decode()}\n")


class HttpHandler(http.Handler):
    async def handle_request(self, request: Request) -> Response:
        path = request.uri.split("?")[0]
        try:
            if path == "/hello":
                return text(200, "hello\n")
            if path == "/query":
                return await query_route()
            if path == "/notes":
                return await notes(request)
            if path == "/scratch":
                return await scratch()
            if path == "/types":
                return await types()
            if path == "/denied":
                with await sqlite.Connection.open("secret"):
                    return text(200, "unexpectedly opened\n")
            if path == "/redis":
                return await redis_round_trip()
            if path == "/redis-denied":
                await redis.open("redis://example.com:6379")
                return text(200, "unexpectedly connected\n")
            if path == "/mqtt":
                broker = await mqtt.open(await variables.get("mqtt_address"), "", "", 30)
                with broker:
                    await broker.publish("notes", request.body or b"", mqtt.Qos.AT_LEAST_ONCE)
                return text(200, "published\n")
            if path == "/outside":
                with await sqlite.Connection.open_default() as db:
                    await query(db, "ATTACH DATABASE '/etc/passwd' AS host", [])
                    return text(200, "unexpectedly attached\n")
        except Err as e:
            return error(e)
        return text(404, "no such route\n")
