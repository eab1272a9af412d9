"""core.cache: the one in-process cache, held to the contract in its docstring."""

from __future__ import annotations

import pytest

from core import cache as core_cache
from core.cache import InProcessCache, clear_all, memoize, plain_key


def _counting():
    calls = []

    @memoize(seconds=60)
    def double(number, *, plus=0):
        calls.append((number, plus))
        return number * 2 + plus

    return double, calls


def test_a_memoized_function_computes_once_per_distinct_call():
    double, calls = _counting()
    assert double(2) == double(2) == 4
    assert double(2, plus=1) == 5  # a keyword is part of the key
    assert double(3) == 6
    assert calls == [(2, 0), (2, 1), (3, 0)]


def test_an_argument_that_is_not_a_plain_value_is_refused():
    double, _calls = _counting()

    class Row:  # stands in for a model instance: it could change without its key changing
        pk = 1

    with pytest.raises(TypeError, match="not a plain value"):
        double(Row())
    with pytest.raises(TypeError):
        plain_key({1: "a dict key that is not a string"})


def test_an_entry_is_recomputed_once_its_seconds_have_passed(monkeypatch):
    double, calls = _counting()
    now = [1000.0]
    monkeypatch.setattr(core_cache.time, "monotonic", lambda: now[0])
    double(2)
    now[0] += 59
    double(2)
    assert len(calls) == 1
    now[0] += 2
    double(2)
    assert len(calls) == 2


def test_an_entry_without_seconds_never_expires(monkeypatch):
    store = InProcessCache("test.forever", seconds=None)
    now = [0.0]
    monkeypatch.setattr(core_cache.time, "monotonic", lambda: now[0])
    assert store.get("k", lambda: "first") == "first"
    now[0] += 10 ** 9
    assert store.get("k", lambda: "second") == "first"


def test_a_full_cache_starts_over():
    store = InProcessCache("test.small", seconds=None, max_entries=2)
    for key in ("a", "b", "c"):
        store.get(key, lambda key=key: key)
    assert list(store.entries) == ["c"]


def test_dicts_and_lists_are_keys_by_value_and_never_collide():
    assert plain_key({"b": [1, 2], "a": None}) == plain_key({"a": None, "b": [1, 2]})
    assert plain_key({"a": 1}) != plain_key([("a", 1)])
    assert plain_key([1, 2]) == plain_key((1, 2))
    assert plain_key({"a": {"b": "c"}}) != plain_key({"a": {"b": "d"}})


def test_clear_all_empties_every_cache():
    double, calls = _counting()
    double(2)
    clear_all()
    double(2)
    assert len(calls) == 2
