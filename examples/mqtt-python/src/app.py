"""An MQTT-triggered app for Spin's MQTT trigger plugin interface
(`spin:mqtt-trigger@3.0.0`: a WASIp3 `async` `handle-message` given the payload and
its topic), built with componentize-py 0.25 from the plugin's WIT (`wit/mqtt.wit`).

Each message is printed as `mqtt message on <topic>: <payload>` (the app's log);
`fail` makes the handler fail instead.
"""

import wit_world
from componentize_py_types import Err
from wit_world.imports.spin_mqtt_types import Error_Other, Metadata


class WitWorld(wit_world.WitWorld):
    async def handle_message(self, message: bytes, metadata: Metadata) -> None:
        if message == b"fail":
            raise Err(Error_Other("asked to fail"))
        print(f"mqtt message on {metadata.topic}: {message.decode()}", flush=True)
