"""consent.views.page_cache: the shared copies of the identity form and the notice.

The copy is rendered from its context alone, and the context is its key, so a copy can only
be shared by visits that would render it the same way. These tests check the other half: every
variable a shared template reads is in the context its view passes (a template that reads a
value the view did not put there fails here, instead of printing it empty on every page), and
the contract stated in the module docstring.
"""

from __future__ import annotations

import pytest
from django.template import engines, loader
from django.template.base import FilterExpression, Variable
from django.template.defaulttags import CsrfTokenNode, ForNode, IfNode, TemplateLiteral
from django.template.loader_tags import ExtendsNode, IncludeNode

from consent.views import page_cache
from consent.views.page_cache import copies, shared_copy, shared_copy_response, slot
from tests.consent.conftest import MERCHANT_BRN

pytestmark = pytest.mark.django_db


# --- What a template reads --------------------------------------------------------------


def template_reads(template) -> set[tuple[str, ...]]:
    """Every variable path ``template`` (a compiled django Template) reads, through its
    parents and includes, in any branch; paths under a ``{% for %}`` variable are left out
    (their sequence is read, and checked, instead)."""
    paths: set[tuple[str, ...]] = set()
    _walk(template.nodelist, frozenset(), paths)
    return paths


def _walk(nodelist, loop_names: frozenset, paths: set) -> None:
    for node in nodelist:
        if isinstance(node, ExtendsNode):
            _walk(_compiled(node.parent_name.var).nodelist, loop_names, paths)
        elif isinstance(node, IncludeNode):
            _walk(_compiled(node.template.var).nodelist, loop_names, paths)
        elif isinstance(node, CsrfTokenNode):
            paths.add(("csrf_token",))
        elif isinstance(node, IfNode):
            for condition, _branch in node.conditions_nodelists:
                _condition(condition, loop_names, paths)
        for value in vars(node).values():
            for expression in value if isinstance(value, list) else [value]:
                if isinstance(expression, FilterExpression):
                    _expression(expression, loop_names, paths)
        if isinstance(node, ForNode):
            _walk(node.nodelist_loop, loop_names | set(node.loopvars) | {"forloop"}, paths)
            _walk(node.nodelist_empty, loop_names, paths)
            continue
        for name in node.child_nodelists:
            _walk(getattr(node, name, None) or [], loop_names, paths)


def _compiled(name: str):
    return loader.get_template(name).template


def _condition(condition, loop_names, paths) -> None:
    if condition is None:
        return
    if isinstance(condition, TemplateLiteral):
        _expression(condition.value, loop_names, paths)
        return
    _condition(getattr(condition, "first", None), loop_names, paths)
    _condition(getattr(condition, "second", None), loop_names, paths)


def _expression(expression: FilterExpression, loop_names, paths) -> None:
    variables = [expression.var] + [arg for _f, args in expression.filters
                                    for lookup, arg in args if lookup]
    for variable in variables:
        if isinstance(variable, Variable) and variable.lookups:
            if variable.lookups[0] not in loop_names:
                paths.add(variable.lookups)


def uncovered(template, context: dict) -> set[tuple[str, ...]]:
    """The paths ``template`` reads that ``context`` does not hold (a None on the way ends a
    path: the template guards it, as ``{% if transfer %}``)."""
    return {path for path in template_reads(template) if not _holds(context, path)}


def _holds(context: dict, path: tuple[str, ...]) -> bool:
    value = context
    for part in path:
        if value is None:
            return True
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return True


# --- The shared templates read only what their views pass --------------------------------


@pytest.fixture
def rendered(monkeypatch):
    """Every (template, context) a shared copy is rendered from during the test."""
    calls: list[tuple[str, dict]] = []
    real = page_cache.render_to_string

    def recording(template, context):
        calls.append((template, context))
        return real(template, context)

    monkeypatch.setattr(page_cache, "render_to_string", recording)
    copies.clear()
    return calls


def _check(calls, template: str) -> None:
    contexts = [context for name, context in calls if name == template]
    assert contexts, f"{template} was not rendered as a shared copy"
    for context in contexts:
        assert uncovered(_compiled(template), context) == set(), template


def test_the_identity_form_reads_only_what_its_view_passes(client, rendered, merchant_link,
                                                           user_link):
    assert client.get(f"/c/{merchant_link.token}").status_code == 200  # consent only
    assert "제27조" in client.get(f"/c/{user_link.token}").content.decode()  # with the notice
    _check(rendered, "consent/verify.html")
    assert {c["transfer"] is None for t, c in rendered} == {True, False}


def test_the_notice_reads_only_what_its_view_passes(client, rendered, merchant_link):
    client.post(f"/c/{merchant_link.token}", {"answer": MERCHANT_BRN})
    assert client.get(f"/c/{merchant_link.token}/notice").status_code == 200
    _check(rendered, "consent/notice.html")


def test_the_check_catches_a_variable_the_view_does_not_pass():
    template = engines["django"].from_string(
        "{% if visit.secret %}{{ shown|default:fallback }}{% endif %}"
        "{% for row in rows %}{{ row.label }}{% endfor %}{{ visit.reference }}").template
    context = {"visit": {"reference": "R"}, "rows": []}
    assert uncovered(template, context) == {("visit", "secret"), ("shown",), ("fallback",)}


# --- The contract -------------------------------------------------------------------------


def test_a_value_that_is_not_plain_cannot_be_in_a_shared_copy(approved_plan):
    with pytest.raises(TypeError, match="not a plain value"):
        shared_copy("consent/_reference.html", {"visit": approved_plan})


def test_visits_share_a_copy_only_when_every_value_is_equal():
    copies.clear()
    first = shared_copy("consent/_reference.html", {"visit": {"reference": slot("reference")}})
    again = shared_copy("consent/_reference.html", {"visit": {"reference": slot("reference")}})
    assert first is again and len(copies.entries) == 1
    other = shared_copy("consent/_reference.html", {"visit": {"reference": "AB12"}})
    assert "AB12" in other and len(copies.entries) == 2


def test_a_slot_is_filled_escaped_and_never_left_in_the_page():
    context = {"visit": {"reference": slot("reference")}}
    html = shared_copy_response("consent/_reference.html", context,
                                {"reference": "<AB12>"}).content.decode()
    assert "&lt;AB12&gt;" in html and "\x00" not in html
    with pytest.raises(ValueError, match="unfilled slot"):
        shared_copy_response("consent/_reference.html", context, {})
