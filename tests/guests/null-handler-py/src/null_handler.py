"""Bench guest: an event handler in Python that does nothing with its batch, so a call measures
what delivering events to a componentize-py component costs."""

from typing import List

from wit_world import exports
from wit_world.imports.types import Event


class Handler(exports.Handler):
    def handle(self, batch: List[Event]) -> None:
        pass
