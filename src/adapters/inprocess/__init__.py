"""The embedded default's job runner: asyncio tasks inside the web process."""
