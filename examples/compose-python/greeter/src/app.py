"""A library component (no trigger): exports `example:greeter/greet`. The app composes
it in as a dependency; what it may see of the app's configuration is what the app lets
it inherit."""

import os

from wit_world import exports


class Greet(exports.Greet):
    def greet(self, name: str) -> str:
        return f"Hello, {name}! (the greeter sees GREETING={os.environ.get('GREETING', '<unset>')})"
