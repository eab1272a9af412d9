"""Caching in this process, the one way apps do it: `memoize` and `InProcessCache`.

Pages that every visitor of a campaign opens within minutes read the same few rows on every
request (a plan, its notice, its items). Those reads may be a little old; this module keeps
them in the process, under a key that names everything the value depends on (zulip's
``cache_with_key`` idea, without a network cache: a round trip to Redis would cost more than
the reads it saves).

Contract:

- A key is a *plain value*: ``str``, ``int``, ``float``, ``bool``, ``None``, ``bytes``, or a
  tuple / frozenset of plain values (`plain_key` turns dicts and lists into such tuples and
  refuses anything else with ``TypeError``: a model instance or any other object could
  change, or differ, without its key changing). Equal keys therefore mean equal inputs.
- `memoize` gives the function its own cache (named after it) and builds the key itself
  from every argument as called (positional and keyword), so the key names everything the
  caller passes; an argument that is not plain is refused. What the function reads besides
  its arguments (rows, settings) may be up to ``seconds`` old: its docstring says what that is.
- ``seconds=None``: the entry never expires (for values that are a pure function of the
  key, such as a page rendered from nothing but its key).
- At most ``max_entries`` entries per cache: when full, the cache starts over (empty).
- `clear_all` empties every cache of the process (the tests call it between tests: primary
  keys are reused by the next test's database).

`tests/core/test_cache.py` holds the contract.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from functools import wraps
from typing import Any, TypeVar

T = TypeVar("T")

_PLAIN = (str, int, float, bytes, type(None))  # bool is an int
_ALL: list[InProcessCache] = []


def plain_key(value: Any) -> Hashable:
    """``value`` as a plain, hashable key: dicts as ``(dict, ((key, value), ...))`` sorted by
    key, lists and tuples as ``(list, (...))`` (tagged so that the two never collide); a
    value of any other type raises ``TypeError``."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return (dict, tuple(sorted((_plain_name(k), plain_key(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return (list, tuple(plain_key(v) for v in value))
    if isinstance(value, frozenset):
        return frozenset(plain_key(v) for v in value)
    raise TypeError(f"not a plain value for a cache key: {type(value).__name__} {value!r:.80}")


def _plain_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a dict in a cache key needs str keys, not {name!r:.80}")
    return name


class InProcessCache:
    """Values by plain key, each kept ``seconds`` (None: for good), at most ``max_entries``."""

    def __init__(self, name: str, *, seconds: float | None, max_entries: int = 1024):
        self.name = name
        self.seconds = seconds
        self.max_entries = max_entries
        self.entries: dict[Hashable, tuple[float, Any]] = {}
        _ALL.append(self)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value stored under ``key`` while fresh, else ``compute()`` (stored)."""
        entry = self.entries.get(key)
        now = time.monotonic()
        if entry is not None and (self.seconds is None or now - entry[0] < self.seconds):
            return entry[1]
        value = compute()
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        self.entries[key] = (now, value)
        return value

    def clear(self) -> None:
        self.entries.clear()


def memoize(*, seconds: float | None, max_entries: int = 1024):
    """Decorate a function of plain arguments: its answer is kept for ``seconds`` per
    distinct call (see the module docstring). The decorated function has ``.cache`` (its
    `InProcessCache`) and ``.uncached`` (the function itself)."""

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        name = f"{function.__module__}.{function.__qualname__}"
        store = InProcessCache(name, seconds=seconds, max_entries=max_entries)

        @wraps(function)
        def wrapper(*args, **kwargs):
            key = (plain_key(args), plain_key(kwargs))
            return store.get(key, lambda: function(*args, **kwargs))

        wrapper.cache = store
        wrapper.uncached = function
        return wrapper

    return decorate


def clear_all() -> None:
    """Empty every cache of this process."""
    for store in _ALL:
        store.clear()
