"""The member and staff web app (`web/`, built by `make web`) served by the API process: hashed assets under
/assets (cached for a year), and index.html for every other page path, so links such as /join or /billing (the
provider's return URLs) open the app on that page. API-like paths never fall back to the app: an unknown
/api/… path stays a 404 problem document."""

from pathlib import Path

from litestar import MediaType, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.response import File
from litestar.static_files import create_static_files_router

NOT_APP = ("api/", "sandbox/", "schema", "health", "metrics", "assets/")
"""Paths the app never answers for (their own routers do, or nobody)."""


def create_web_app_routers(web_dir: str) -> list[Router]:
    """The routers serving the built app, or none when it has not been built (the API works without it)."""
    root = Path(web_dir)
    index = root / "index.html"
    if not index.is_file():
        return []

    @get(["/", "/{page:path}"], include_in_schema=False, media_type=MediaType.HTML, cache=False)
    async def page(page: str = "") -> File:
        if page.lstrip("/").startswith(NOT_APP):
            raise NotFoundException()
        return File(index, content_disposition_type="inline", media_type=MediaType.HTML)

    assets = create_static_files_router(
        path="/assets",
        directories=[root / "assets"],
        name="web-assets",
        cache_control=CacheControlHeader(max_age=31_536_000, public=True),
    )
    return [Router(path="/", route_handlers=[page]), assets]
