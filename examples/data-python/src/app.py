"""Spin's data services from the Python SDK (spin-sdk 3.4.1: fermyon:spin/sqlite@2.0.0).

spin-sdk 3.4.1's own `spin_sdk.sqlite` module cannot be built (its componentize-py
config does not name the `fermyon:spin/sqlite@2.0.0` bindings `sqlite`), so this app
uses the bindings componentize-py generates for that interface: the same calls.

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
  /pg-denied    connects to a PostgreSQL not in allowed_outbound_hosts (refused)
  /mysql        adds a pet to table `pets` of the MySQL at `mysql_address` and reads
                the latest back with the number of pets
  /mysql-denied connects to a MySQL not in allowed_outbound_hosts (refused)
"""

from spin_sdk import http, key_value, mqtt, mysql, postgres, redis, variables
from spin_sdk.http import Request, Response
from spin_sdk.wit.imports.fermyon_spin_sqlite import (
    Connection,
    Value_Blob,
    Value_Integer,
    Value_Null,
    Value_Real,
    Value_Text,
)
from spin_sdk.wit.imports.rdbms_types import (
    ParameterValue_Floating64,
    ParameterValue_Int32,
    ParameterValue_Str,
    ParameterValue_Uint32,
)
from spin_sdk.wit.imports.redis import RedisParameter_Binary
from spin_sdk.wit.types import Err


def text(status: int, body: str) -> Response:
    return Response(status, {"content-type": "text/plain; charset=utf-8"}, bytes(body, "utf-8"))


def error(e: Err) -> Response:
    return text(500, f"{type(e.value).__name__}: {getattr(e.value, 'value', '')}\n")



def notes(request: Request) -> Response:
    with Connection.open("default") as db:
        db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)", [])
        if request.method == "POST":
            db.execute("INSERT INTO notes (body) VALUES (?)", [Value_Text((request.body or b"").decode())])
            row = db.execute("SELECT last_insert_rowid()", []).rows[0]
            return text(201, f"note {row.values[0].value}\n")
        result = db.execute("SELECT id, body FROM notes ORDER BY id", [])
        return text(200, "".join(f"{r.values[0].value}: {r.values[1].value}\n" for r in result.rows))


def scratch() -> Response:
    with Connection.open("scratch") as db:
        db.execute("CREATE TABLE IF NOT EXISTS hits (at INTEGER)", [])
        db.execute("INSERT INTO hits VALUES (1)", [])
        count = db.execute("SELECT count(*) FROM hits", []).rows[0].values[0].value
        return text(200, f"scratch hits={count}\n")


def types() -> Response:
    with Connection.open("default") as db:
        values = [Value_Integer(-7), Value_Real(1.5), Value_Text("héllo"), Value_Blob(b"\x00\xff"), Value_Null()]
        result = db.execute("SELECT ?, ?, ?, ?, ?", values)
        shown = [f"{type(v).__name__}={getattr(v, 'value', None)!r}" for v in result.rows[0].values]
        return text(200, " ".join(shown) + "\n")


def query() -> Response:
    with Connection.open("default") as db:
        rows = db.execute("SELECT count(*) FROM sqlite_schema", []).rows
    with key_value.open_default() as store:
        value = store.get("greeting")
    return text(200, f"tables={rows[0].values[0].value} greeting={value!r}\n")


def redis_round_trip() -> Response:
    db = redis.open(variables.get("redis_address"))
    db.set("greeting", b"hello from Python")
    count = db.incr("visits")
    db.sadd("langs", ["python", "rust"])
    members = sorted(db.smembers("langs"))
    pong = db.execute("PING", [])
    echoed = db.execute("ECHO", [RedisParameter_Binary(b"echo")])
    return text(200, f"{db.get('greeting').decode()} visits={count} langs={','.join(members)} "
                     f"ping={pong[0].value} echo={echoed[0].value.decode()}\n")


def pg_round_trip() -> Response:
    with postgres.open(variables.get("pg_address")) as db:
        db.execute("CREATE TABLE IF NOT EXISTS pets "
                   "(id SERIAL PRIMARY KEY, name TEXT NOT NULL, legs INT, weight FLOAT8)", [])
        db.execute("INSERT INTO pets (name, legs, weight) VALUES ($1, $2, $3)",
                   [ParameterValue_Str("Rex"), ParameterValue_Int32(4), ParameterValue_Floating64(12.5)])
        rows = db.query("SELECT name, legs, weight, (SELECT count(*) FROM pets) "
                        "FROM pets ORDER BY id DESC LIMIT 1", []).rows
    row = rows[0]
    return text(200, f"{row[0].value} legs={row[1].value} weight={row[2].value} pets={row[3].value}\n")


def mysql_round_trip() -> Response:
    with mysql.open(variables.get("mysql_address")) as db:
        db.execute("CREATE TABLE IF NOT EXISTS pets (id INT AUTO_INCREMENT PRIMARY KEY, "
                   "name VARCHAR(64) NOT NULL, legs INT UNSIGNED, weight DOUBLE)", [])
        db.execute("INSERT INTO pets (name, legs, weight) VALUES (?, ?, ?)",
                   [ParameterValue_Str("Rex"), ParameterValue_Uint32(4), ParameterValue_Floating64(12.5)])
        rows = db.query("SELECT name, legs, weight, (SELECT count(*) FROM pets) "
                        "FROM pets ORDER BY id DESC LIMIT 1", []).rows
    row = rows[0]
    return text(200, f"{row[0].value} legs={row[1].value} weight={row[2].value} pets={row[3].value}\n")


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        path = request.uri.split("?")[0]
        try:
            if path == "/hello":
                return text(200, "hello\n")
            if path == "/query":
                return query()
            if path == "/notes":
                return notes(request)
            if path == "/scratch":
                return scratch()
            if path == "/types":
                return types()
            if path == "/denied":
                with Connection.open("secret"):
                    return text(200, "unexpectedly opened\n")
            if path == "/redis":
                return redis_round_trip()
            if path == "/redis-denied":
                redis.open("redis://example.com:6379")
                return text(200, "unexpectedly connected\n")
            if path == "/mqtt":
                with mqtt.open(variables.get("mqtt_address"), "", "", 30) as broker:
                    broker.publish("notes", request.body or b"", mqtt.Qos.AT_LEAST_ONCE)
                return text(200, "published\n")
            if path == "/pg":
                return pg_round_trip()
            if path == "/pg-denied":
                postgres.open("postgres://postgres@example.com:5432/db")
                return text(200, "unexpectedly connected\n")
            if path == "/mysql":
                return mysql_round_trip()
            if path == "/mysql-denied":
                mysql.open("mysql://root@example.com:3306/db")
                return text(200, "unexpectedly connected\n")
            if path == "/outside":
                with Connection.open("default") as db:
                    db.execute("ATTACH DATABASE '/etc/passwd' AS host", [])
                    return text(200, "unexpectedly attached\n")
        except Err as e:
            return error(e)
        return text(404, "no such route\n")
