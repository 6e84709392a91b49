"""The asyncio driver: :class:`~ibstream.aio.client.StreamClient` over aiohttp, its REST client,
the in-memory gateway for tests, the recorder. Import from the modules (``ibstream.aio.client``,
``ibstream.aio.memory``...); this package exports nothing itself."""
