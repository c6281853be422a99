"""One HTTP POST with the project's error classification.

2xx is success; 429, 408, 5xx, timeouts and connection errors are retryable (honouring
``Retry-After`` in seconds or as an HTTP date); redirects and other 4xx are permanent. Error
messages never contain the URL (a Slack URL is a secret).
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping

import aiohttp

from kumowatch_notifier.errors import PermanentChannelError, RetryableChannelError

MAX_RETRY_AFTER: float = 3600.0


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


async def post(
    session: aiohttp.ClientSession,
    channel: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    now: float,
) -> int:
    """POST ``body``; return the 2xx status or raise a classified ``ChannelError``."""
    try:
        async with session.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as resp:
            await resp.content.read(65536)
            status = resp.status
            retry_after = parse_retry_after(resp.headers.get("Retry-After"), now)
    except TimeoutError as exc:
        raise RetryableChannelError(channel, f"timed out after {timeout:g}s") from exc
    except aiohttp.InvalidURL as exc:
        raise PermanentChannelError(channel, "invalid URL") from exc
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
        raise RetryableChannelError(channel, f"connection error: {type(exc).__name__}") from exc
    except aiohttp.ClientError as exc:
        raise PermanentChannelError(channel, f"request failed: {type(exc).__name__}") from exc
    if 200 <= status < 300:
        return status
    if status in (408, 429) or status >= 500:
        raise RetryableChannelError(
            channel, f"HTTP {status}", status_code=status, retry_after=retry_after
        )
    raise PermanentChannelError(channel, f"HTTP {status}", status_code=status)
