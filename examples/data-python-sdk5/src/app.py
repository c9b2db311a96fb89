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
  /pg           adds a pet to table `pets` of the PostgreSQL at `pg_address` and
                reads the latest back with the number of pets
  /pg-types     round-trips PostgreSQL types through parameters (spin:postgres@4.2.0)
  /pg-denied    connects to a PostgreSQL not in allowed_outbound_hosts (refused)
  POST /pg-ca-root  connects to the PostgreSQL at `pg_address` trusting the PEM
                certificate in the body (`set-ca-root`) and runs a query
  /mysql        adds a pet to table `pets` of the MySQL at `mysql_address` and reads
                the latest back with the number of pets
  /mysql-denied connects to a MySQL not in allowed_outbound_hosts (refused)
"""

from componentize_py_types import Err
from spin_sdk import http, key_value, mqtt, mysql, postgres, redis, sqlite, variables
from spin_sdk.http import Request, Response
from spin_sdk.sqlite import Value_Blob, Value_Integer, Value_Real, Value_Text
from spin_sdk.wit.imports import spin_mysql_mysql_3_0_0 as my
from spin_sdk.wit.imports import spin_postgres_postgres_4_2_0 as pg
from spin_sdk.wit.imports.spin_redis_redis_3_0_0 import RedisParameter_Binary
from spin_sdk.wit.imports.spin_sqlite_sqlite_3_1_0 import Value_Null


def text(status: int, body: str) -> Response:
    return Response(status, {"content-type": "text/plain; charset=utf-8"}, bytes(body, "utf-8"))


def error(e: Err) -> Response:
    return text(500, f"{type(e.value).__name__}: {getattr(e.value, 'value', '')}\n")


async def query(db: sqlite.Connection, statement: str, params: list) -> list:
    """All rows of a statement (the SDK streams them)."""
    _columns, stream, done = await db.execute(statement, params)
    return await drain(stream, done)


async def drain(stream, done) -> list:
    """Every row of a streamed result, then its outcome."""
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


async def pg_round_trip() -> Response:
    with await postgres.Connection.open(await variables.get("pg_address")) as db:
        await db.execute("CREATE TABLE IF NOT EXISTS pets "
                         "(id SERIAL PRIMARY KEY, name TEXT NOT NULL, legs INT, weight FLOAT8)", [])
        await db.execute("INSERT INTO pets (name, legs, weight) VALUES ($1, $2, $3)",
                         [pg.ParameterValue_Str("Rex"), pg.ParameterValue_Int32(4), pg.ParameterValue_Floating64(12.5)])
        _columns, stream, done = await db.query(
            "SELECT name, legs, weight, (SELECT count(*) FROM pets) FROM pets ORDER BY id DESC LIMIT 1", [])
        row = (await drain(stream, done))[0]
    return text(200, f"{row[0].value} legs={row[1].value} weight={row[2].value} pets={row[3].value}\n")


async def pg_ca_root(request: Request) -> Response:
    with pg.ConnectionBuilder(await variables.get("pg_address")) as builder:
        builder.set_ca_root((request.body or b"").decode())
        with postgres.Connection(await builder.build_async()) as db:
            _columns, stream, done = await db.query("SELECT 'trusted'", [])
            row = (await drain(stream, done))[0]
    return text(200, f"{row[0].value}\n")


async def pg_types() -> Response:
    with await postgres.Connection.open(await variables.get("pg_address")) as db:
        params = [pg.ParameterValue_Date((2024, 2, 29)), pg.ParameterValue_Time((13, 5, 7, 0)),
                  pg.ParameterValue_Datetime((2024, 2, 29, 13, 5, 7, 0)),
                  pg.ParameterValue_Uuid("6f1c2a8e-3b9d-4e5f-8a7b-1c2d3e4f5a6b"),
                  pg.ParameterValue_Jsonb(b'{"good": true}'), pg.ParameterValue_Decimal("12.50"),
                  pg.ParameterValue_ArrayStr(["dog", None]), pg.ParameterValue_ArrayInt64([1, None, 3]),
                  pg.ParameterValue_Interval(pg.Interval(1500000, 2, 1)), pg.ParameterValue_DbNull(),
                  pg.ParameterValue_Binary(b"\x00\xff")]
        columns, stream, done = await db.query(
            "SELECT $1::date, $2::time, $3::timestamp, $4::uuid, $5::jsonb, $6::numeric, $7::text[], "
            "$8::int8[], $9::interval, $10::text, $11::bytea, '192.0.2.1'::inet", params)
        row = (await drain(stream, done))[0]
    shown = [f"{type(v).__name__.removeprefix('DbValue_')}={getattr(v, 'value', None)!r}" for v in row]
    return text(200, "\n".join(shown) + "\n")


async def mysql_round_trip() -> Response:
    with await mysql.open(await variables.get("mysql_address")) as db:
        await db.execute("CREATE TABLE IF NOT EXISTS pets (id INT AUTO_INCREMENT PRIMARY KEY, "
                         "name VARCHAR(64) NOT NULL, legs INT UNSIGNED, weight DOUBLE)", [])
        await db.execute("INSERT INTO pets (name, legs, weight) VALUES (?, ?, ?)",
                         [my.ParameterValue_Str("Rex"), my.ParameterValue_Uint32(4), my.ParameterValue_Floating64(12.5)])
        _columns, stream, done = await db.query(
            "SELECT name, legs, weight, (SELECT count(*) FROM pets) FROM pets ORDER BY id DESC LIMIT 1", [])
        row = (await drain(stream, done))[0]
    return text(200, f"{row[0].value} legs={row[1].value} weight={row[2].value} pets={row[3].value}\n")


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
            if path == "/pg":
                return await pg_round_trip()
            if path == "/pg-types":
                return await pg_types()
            if path == "/pg-ca-root":
                return await pg_ca_root(request)
            if path == "/pg-denied":
                await postgres.Connection.open("postgres://postgres@example.com:5432/db")
                return text(200, "unexpectedly connected\n")
            if path == "/mysql":
                return await mysql_round_trip()
            if path == "/mysql-denied":
                await mysql.open("mysql://root@example.com:3306/db")
                return text(200, "unexpectedly connected\n")
            if path == "/outside":
                with await sqlite.Connection.open_default() as db:
                    await query(db, "ATTACH DATABASE '/etc/passwd' AS host", [])
                    return text(200, "unexpectedly attached\n")
        except Err as e:
            return error(e)
        return text(404, "no such route\n")
