"""Read the browser files shipped in this package (``kayou_dispatch/web/static``)."""

from __future__ import annotations

from importlib import resources

from kayou_dispatch.errors import InvalidParameterError

__all__ = ["asset_bytes", "asset_text", "ASSETS"]

#: The files a browser may fetch, with their media types.
ASSETS: dict[str, str] = {
    "console.css": "text/css; charset=utf-8",
    "console.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "map.js": "text/javascript; charset=utf-8",
    "replay.html": "text/html; charset=utf-8",
    "replay.js": "text/javascript; charset=utf-8",
}


def asset_bytes(name: str) -> bytes:
    """Return the content of one shipped browser file.

    Raises
    ------
    InvalidParameterError
        For a name not in :data:`ASSETS`.

    Examples
    --------
    >>> b"KayouMap" in asset_bytes("map.js")
    True
    """
    if name not in ASSETS:
        msg = f"no browser asset {name!r}; have {sorted(ASSETS)}"
        raise InvalidParameterError(msg, name="name", value=name)
    return resources.files("kayou_dispatch.web").joinpath("static", name).read_bytes()


def asset_text(name: str) -> str:
    """Return a shipped browser file as text (UTF-8)."""
    return asset_bytes(name).decode("utf-8")
