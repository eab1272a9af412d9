"""The consent page's shared copies: a template rendered once per process from a context of
plain values, then filled in per visit.

The first page of a link (the identity form) and the notice are what the rush after a
campaign opens; rendering their templates was a third of the page's cost
(bench/consent_page.py). So `shared_copy_response` renders such a page once per distinct
context and fills in what differs per visit (the request's reference, its addresses, the
CSRF token, which choices are checked).

Contract (what makes a stale page impossible):

- The template sees nothing but ``context``, and ``context`` *is* the cache key: plain
  values only (str, int, float, bool, None, dicts, lists and tuples of them; anything else,
  a model instance say, raises ``TypeError`` through `core.cache.plain_key`). Two visits get
  the same copy only when every value the template can read is equal. A view that adds a
  value to the page adds it to the key by adding it to the context.
- What differs per visit is a *slot*: ``slot(name)`` in the context, a string the template
  prints like any other (it is part of the key, and the same for every visit), replaced in
  the rendered copy by ``fill[name]`` (escaped). A slot left unfilled raises
  ``ValueError``: no marker ever reaches a visitor.
- The copy never expires: it is a pure function of its key (the template files only change
  with a deploy, which restarts the process). At most `MAX_COPIES` copies are kept.

`tests/consent/test_page_cache.py` checks every variable the shared templates read is in
the context their views pass (so none prints empty by mistake), and the contract above.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.html import escape

from core.cache import InProcessCache, plain_key

MAX_COPIES = 256  # kinds x text sizes x notice versions x item sets: a handful in practice

copies = InProcessCache("consent.page_cache", seconds=None, max_entries=MAX_COPIES)

_MARK = "\x00"  # never in a template, a notice or an address


def slot(name: str) -> str:
    """A per-visit value's place in a shared copy (filled by `shared_copy_response`)."""
    return f"{_MARK}{name}{_MARK}"


def shared_copy(template: str, context: dict) -> str:
    """``template`` rendered from ``context`` alone, once per process per distinct context
    (see the module docstring)."""
    key = (template, plain_key(context))
    return copies.get(key, lambda: render_to_string(template, context))


def shared_copy_response(template: str, context: dict, fill: dict[str, str]) -> HttpResponse:
    """The shared copy of ``template`` for ``context``, its slots filled from ``fill``."""
    html = shared_copy(template, context)
    for name, value in fill.items():
        html = html.replace(slot(name), escape(value))
    if _MARK in html:
        start = html.index(_MARK)
        unfilled = html[start:html.find(_MARK, start + 1) + 1]
        raise ValueError(f"{template}: unfilled slot {unfilled!r}")
    return HttpResponse(html)
