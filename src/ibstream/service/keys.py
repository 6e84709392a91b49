"""Typed aiohttp application keys shared by the service's handlers."""

from __future__ import annotations

from aiohttp import web

from ibstream.service.config import ServiceConfig
from ibstream.service.hub import Hub

__all__ = ["CONFIG", "HUB"]

HUB = web.AppKey("ibstream_hub", Hub)
CONFIG = web.AppKey("ibstream_config", ServiceConfig)
