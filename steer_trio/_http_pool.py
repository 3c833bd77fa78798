"""A client's connection pool, and what its first request needs built beforehand.

Built when the client is entered (or on its first request without ``async with``),
off the event loop the first time in a process: the pool (whose first build imports
httpcore2 and h11), the bundled price table (every finished stream prices its
usage), and the TLS context, only where ``https://`` needs one.

Reading the trust store takes tens of milliseconds, so it is done off the event loop,
once per process, and only for a client that may speak TLS: when it is entered (or
makes its first request) if any of its base URLs is ``https://`` or it uses the
providers' own (``https://``) URLs; on its first ``https://`` request otherwise. A
client pointed only at ``http://`` servers (a local model server, the fake provider)
never reads it.

Such a client routes ``https://`` to a pool of its own, opened on first use with the
client's limits; everything else about the pool is httpx2's defaults, environment
proxies included.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from urllib.request import getproxies

import httpx2
import trio

from ._checkpoints import caller_checkpoints
from ._processing import _accounting

__all__ = ["DEFAULT_LIMITS", "make_http_client", "warm_tls_blocking"]

#: Batch jobs run hundreds of concurrent streams; httpx2's defaults (100) would queue them.
DEFAULT_LIMITS = httpx2.Limits(
    max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60.0
)

#: The process's TLS context (httpx2's defaults: the system trust store), built once.
_tls_context: ssl.SSLContext | None = None
#: Whether a pool was built in this process: the first build imports httpcore2 and h11.
_pool_built = False


def warm_tls_blocking() -> ssl.SSLContext:
    """Blocking: read the trust store (once per process)."""
    global _tls_context
    if _tls_context is None:
        _tls_context = httpx2.create_ssl_context()
    return _tls_context


def _plain_only(base_urls: Iterable[str | None]) -> bool:
    """Whether every base URL the client was given is ``http://``, and environment
    proxies (whose routes a separate ``https://`` pool would bypass) are unset."""
    urls = [url for url in base_urls if url is not None]
    if not urls or not all(url[:7].lower() == "http://" for url in urls):
        return False
    return not getproxies()


def _build_blocking(limits: httpx2.Limits, plain: bool) -> httpx2.AsyncClient:
    global _pool_built
    if plain:
        # Never used for TLS (https:// is mounted on its own pool); were it ever, it
        # trusts no certificate and fails closed.
        placeholder = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        http = httpx2.AsyncClient(
            limits=limits,
            timeout=None,
            verify=placeholder,
            mounts={"https://": _TLSOnFirstUse(limits)},
        )
    else:
        http = httpx2.AsyncClient(limits=limits, timeout=None, verify=warm_tls_blocking())
    _pool_built = True
    _accounting._load_price_table()
    return http


async def make_http_client(
    limits: httpx2.Limits | None = None, *, base_urls: Iterable[str | None] = ()
) -> httpx2.AsyncClient:
    """A connection pool; ``base_urls`` are the client's own (none: the providers'
    ``https://`` ones). The first pool of the process, or the trust store, is built
    off the event loop."""
    plain = _plain_only(base_urls)
    limits = limits or DEFAULT_LIMITS
    ready = _pool_built and _accounting._price_table is not None
    if ready and (plain or _tls_context is not None):
        await trio.lowlevel.checkpoint()
        return _build_blocking(limits, plain)
    # A deadline may not wait for the trust store: the thread finishes on its own and
    # its context is cached for the next pool.
    return await trio.to_thread.run_sync(_build_blocking, limits, plain, abandon_on_cancel=True)


class _TLSOnFirstUse(httpx2.AsyncBaseTransport):
    """The ``https://`` pool of a client given only ``http://`` URLs: opened, and the
    trust store read (off the event loop), on its first request."""

    def __init__(self, limits: httpx2.Limits) -> None:
        self._limits = limits
        self._pool: httpx2.AsyncHTTPTransport | None = None
        self._closed = False

    @caller_checkpoints
    async def _open(self) -> httpx2.AsyncHTTPTransport:
        context = _tls_context
        if context is None:
            context = await trio.to_thread.run_sync(warm_tls_blocking, abandon_on_cancel=True)
        if self._closed:
            raise RuntimeError("the connection pool was closed")
        if self._pool is None:  # a concurrent first request may have opened it meanwhile
            self._pool = httpx2.AsyncHTTPTransport(verify=context, limits=self._limits)
        return self._pool

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        pool = self._pool or await self._open()
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()
        else:
            await trio.lowlevel.checkpoint()
