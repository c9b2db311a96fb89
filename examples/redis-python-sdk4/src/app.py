"""A Redis-triggered app from the Spin 4.0 Python SDK (spin-sdk 4.0.0 with componentize-py 0.23, the
`spin:up/redis-trigger` world: `spin:redis/inbound-redis@3.0.0`, a WASIp3 `async`
export).

Each message on channel `messages` is appended to the list `received-sdk4` on the
server at `redis_address`; `fail` makes the handler fail instead.
"""

from componentize_py_types import Err
from spin_sdk import redis, variables
from spin_sdk.wit import exports
from spin_sdk.wit.imports.spin_redis_redis_3_0_0 import Error_Other, RedisParameter_Binary


class RedisHandler(exports.RedisHandler):
    async def handle_message(self, message: bytes) -> None:
        if message == b"fail":
            raise Err(Error_Other("asked to fail"))
        db = await redis.open(await variables.get("redis_address"))
        await db.execute("RPUSH", [RedisParameter_Binary(b"received-sdk4"),
                                   RedisParameter_Binary(message)])
