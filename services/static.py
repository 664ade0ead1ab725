"""Files served from the package (the staff page's assets, the API docs' vendored assets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.file_system import BaseLocalFileSystem
from litestar.static_files import create_static_files_router
from litestar.types.file_types import FileInfo

from services.staff.auth import PUBLIC


class PackageFiles(BaseLocalFileSystem):
    """The local file system, where a path holding a NUL byte (which no file name can) is simply
    not found, rather than an error from the operating system's call."""

    async def info(self, path: Any, **kwargs: Any) -> FileInfo:
        if "\x00" in str(path):
            raise FileNotFoundError(path)
        return await super().info(path, **kwargs)


def static_router(path: str, directory: Path, name: str) -> Router:
    """A public router serving the files under `directory` at `path`, revalidated each time."""
    return create_static_files_router(
        path=path,
        directories=[directory],
        file_system=PackageFiles(),
        opt=PUBLIC,
        name=name,
        cache_control=CacheControlHeader(no_cache=True),
        include_in_schema=False,
    )
