"""Background services the API process runs beside the routes (alert feed, webhook
dispatcher, ...): started in order when the app starts, stopped in reverse order."""

from __future__ import annotations

from typing import Protocol


class BackgroundService(Protocol):
    async def start(self) -> None:
        """Open clients and start tasks; raise to refuse to start the app."""

    async def stop(self) -> None:
        """Stop tasks and flush; must not raise."""
