"""The rows the service issues ask of ``make bench``, from each service's ``bench`` module.

Every call is defensive: a module or function that is missing, or one that fails, gives a row
saying "not available" and why, and the run goes on. Keyword arguments a function does not take
are dropped, so a bench function can grow or lose parameters without breaking this harness.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import math
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench.progress import Progress
from bench.report import Row


class Unavailable(Exception):
    """The bench function cannot be called (missing module or function)."""


@dataclass
class Context:
    """What the row functions share: a NATS server URL, the mode, the progress display."""

    nats_url: str
    quick: bool
    progress: Progress
    timeout: float = 600.0


def resolve(module: str, function: str) -> Callable[..., Any]:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:
        raise Unavailable(f"{module} not importable ({type(exc).__name__}: {exc})") from exc
    fn = getattr(mod, function, None)
    if fn is None or not callable(fn):
        raise Unavailable(f"{module}.{function} missing")
    return fn  # type: ignore[no-any-return]


async def call(ctx: Context, module: str, function: str, **kwargs: Any) -> Any:
    """Call ``module.function`` with the keyword arguments it accepts; await it if async."""
    fn = resolve(module, function)
    try:
        params = dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    args = {k: v for k, v in kwargs.items() if takes_any or k in params}
    if "nats_url" in params and "nats_url" not in args:
        args["nats_url"] = ctx.nats_url
    if inspect.iscoroutinefunction(fn):
        return await asyncio.wait_for(fn(**args), ctx.timeout)
    result = await asyncio.wait_for(asyncio.to_thread(fn, **args), ctx.timeout)
    if inspect.isawaitable(result):
        return await asyncio.wait_for(result, ctx.timeout)
    return result


def pick(data: Any, *names: str) -> float | None:
    """The first of ``names`` present in a dict result (or the result itself when a number)."""
    if isinstance(data, int | float):
        return float(data)
    if isinstance(data, dict):
        for name in names:
            value = data.get(name)
            if isinstance(value, int | float) and not math.isnan(float(value)):
                return float(value)
    if hasattr(data, "__dict__"):
        return pick(vars(data), *names)
    return None


def fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "?"
    if abs(value) >= 1e6 and unit.endswith("/s"):
        return f"{value / 1e6:.2f} M{unit}"
    if abs(value) >= 1e4 and unit.endswith("/s"):
        return f"{value / 1e3:.0f} k{unit}"
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


def describe(data: Any, limit: int = 8) -> str:
    """A compact ``key=value`` rendering of a result, for the notes column."""
    if isinstance(data, dict):
        items = [f"{k}={_short(v)}" for k, v in list(data.items())[:limit]]
        return ", ".join(items)
    return _short(data)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


RowFn = Callable[[Context], Awaitable[list[Row]]]


async def guarded(ctx: Context, name: str, fn: RowFn, fallback: list[tuple[str, str]]) -> list[Row]:
    """Run one row function; on any failure, one "not available" row per expected benchmark."""
    ctx.progress.step(f"rows: {name}")
    try:
        return await fn(ctx)
    except Unavailable as exc:
        reason = str(exc)
    except Exception as exc:
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        reason = f"failed: {tb}"
    ctx.progress.step(f"rows: {name}: not available ({reason})")
    return [Row(bench, "", f"not available: {reason}", peer) for bench, peer in fallback]
