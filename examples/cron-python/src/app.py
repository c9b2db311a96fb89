"""A cron-triggered app for Spin's cron trigger plugin interface
(`fermyon:spin-cron@2.0.0` with a WASIp3 `async` `handle-cron-event`), built with
componentize-py 0.25 from the plugin's WIT (`wit/cron.wit`).

Each run prints `cron tick at <unix seconds>` (the app's log).
"""

import wit_world
from wit_world.imports.cron_types import Metadata


class WitWorld(wit_world.WitWorld):
    async def handle_cron_event(self, metadata: Metadata) -> None:
        print(f"cron tick at {metadata.timestamp}", flush=True)
