"""The Art. 17(2) notice with the subject's choices, and the confirmation that records
the answer."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect

from consent.models import ConsentRecord, Notice
from consent.services.decisions import consent_answer
from consent.services.errors import ConsentError
from consent.views.links import (
    _SESSION_PENDING,
    AGREE,
    DECLINE,
    _error_page,
    _page,
    _shared_page,
    _Visit,
    link_view,
)
from consent.views.page_cache import slot
from governance.selectors.consent_page import plan_field_rules


def _choices_context(visit: _Visit, chosen: dict[str, str] | None = None) -> dict:
    """The notice page's context for ``chosen`` (item key -> agree/decline), rendered as
    usual (the form sent back with what is missing)."""
    items = visit.items()
    chosen = chosen or {}
    required = [i for i in items.consent.values() if i.required]
    required_choice = chosen.get(required[0].key, "") if required else ""

    def checked(choice: str, value: str) -> str:
        return "checked" if choice == value else ""

    optional = [{"item": i, "agree": checked(chosen.get(i.key, ""), AGREE),
                 "decline": checked(chosen.get(i.key, ""), DECLINE)}
                for i in items.consent.values() if not i.required]
    return {"visit": visit, "items": items, "notice": visit.notice(Notice.Kind.CONSENT),
            "transfer": visit.notice(Notice.Kind.TRANSFER) if items.notice else None,
            "required": required, "required_labels": ", ".join(i.label for i in required),
            "required_agree": checked(required_choice, AGREE),
            "required_decline": checked(required_choice, DECLINE),
            "optional": optional}


def _notice_page(request, visit: _Visit, chosen: dict[str, str]) -> HttpResponse:
    """The notice with the subject's choices so far: a shared copy (`_shared_page`) per
    notice text and set of items, the checked choices filled in per visit."""
    items = visit.items()
    notice = visit.notice(Notice.Kind.CONSENT)
    transfer = visit.notice(Notice.Kind.TRANSFER) if items.notice else None
    required = [i for i in items.consent.values() if i.required]
    optional = [i for i in items.consent.values() if not i.required]
    context = {
        "error": "",
        "notice": {"version": notice.version, "text": notice.text},
        "transfer": {"version": transfer.version, "text": transfer.text} if transfer else None,
        "required": [_plain_item(i) for i in required],
        "required_labels": ", ".join(i.label for i in required),
        "required_agree": slot(f"checked:required:{AGREE}"),
        "required_decline": slot(f"checked:required:{DECLINE}"),
        "optional": [{"item": _plain_item(i), "agree": slot(f"checked:{i.key}:{AGREE}"),
                      "decline": slot(f"checked:{i.key}:{DECLINE}")} for i in optional],
    }
    required_choice = chosen.get(required[0].key, "") if required else ""
    fill = {f"checked:required:{v}": "checked" if required_choice == v else ""
            for v in (AGREE, DECLINE)}
    fill.update({f"checked:{i.key}:{v}": "checked" if chosen.get(i.key) == v else ""
                 for i in optional for v in (AGREE, DECLINE)})
    return _shared_page(request, visit, "consent/notice.html", context, fill)


def _plain_item(item) -> dict:
    return {"key": item.key, "label": item.label, "required": item.required}


def _current_choices(visit: _Visit) -> dict[str, str]:
    state = visit.req.consent_state  # read with the link
    if state is None or state.withdrawn_at is not None:
        return {}
    return {**{k: AGREE for k in state.fields_granted},
            **{k: DECLINE for k in state.fields_declined}}


@link_view(verified=True, methods=("GET", "POST"))
def notice(request, visit: _Visit):
    if request.method == "POST":
        return _notice_post(request, visit)
    pending = request.session.get(_SESSION_PENDING)
    if pending and pending.get("request") == str(visit.req.public_id):
        chosen = {**{k: AGREE for k in pending["agreed"]},
                  **{k: DECLINE for k in pending["declined"]}}
    else:
        chosen = _current_choices(visit)
    return _notice_page(request, visit, chosen)


def _notice_post(request, visit: _Visit):
    context = _choices_context(visit)
    items = context["items"]
    answers: dict[str, str] = {}
    missing = []
    if context["required"]:
        value = request.POST.get("required")
        if value in (AGREE, DECLINE):
            answers.update({i.key: value for i in context["required"]})
        else:
            missing.append(context["required_labels"])
    for entry in context["optional"]:
        item = entry["item"]
        value = request.POST.get(f"opt:{item.key}")
        if value in (AGREE, DECLINE):
            answers[item.key] = value
        else:
            missing.append(item.label)
    if missing or not items.consent:
        context = _choices_context(visit, answers)
        context["error"] = ("다음 항목에 동의 또는 동의하지 않음을 선택해 주세요: "
                            + ", ".join(missing))
        return _page(request, "consent/notice.html", context, status=400)
    request.session[_SESSION_PENDING] = {
        "request": str(visit.req.public_id),
        "agreed": sorted(k for k, v in answers.items() if v == AGREE),
        "declined": sorted(k for k, v in answers.items() if v == DECLINE),
        "notice_hash": context["notice"].text_hash,
    }
    return HttpResponseRedirect(visit.url("confirm"))


@link_view(verified=True, methods=("GET", "POST"))
def confirm(request, visit: _Visit):
    pending = request.session.get(_SESSION_PENDING)
    if not pending or pending.get("request") != str(visit.req.public_id):
        return HttpResponseRedirect(visit.url("notice"))
    if request.method == "POST":
        try:
            record = consent_answer(request=visit.req, agreed=pending["agreed"],
                                    declined=pending["declined"],
                                    channel=ConsentRecord.Channel.WEB,
                                    identity_factor=visit.factor,
                                    notice_hash=pending["notice_hash"])
        except ConsentError as error:
            return _error_page(request, visit, error)
        request.session.pop(_SESSION_PENDING, None)
        return HttpResponseRedirect(visit.url("receipt", record.receipt_id) + "?done=1")
    items = visit.items().consent
    return _page(request, "consent/confirm.html", {
        "visit": visit,
        "agreed": [i for k, i in items.items() if k in pending["agreed"]],
        "declined": [i for k, i in items.items() if k in pending["declined"]],
        **_what_moves(visit, agreed=set(pending["agreed"])),
    })


def _what_moves(visit: _Visit, *, agreed: set[str]) -> dict:
    """The plan's items for this subject in three lists: moving on this consent, moving on
    another basis (which, per item), staying (declined, not asked, never moved)."""
    from consent.receipts import BASIS_GROUNDS
    from governance.models import FieldRule

    Basis = FieldRule.Basis
    state = visit.req.consent_state
    objected = bool(state and state.objected)
    other, stays = [], []
    for rule in plan_field_rules(plan_id=visit.plan.pk, subject_kind=visit.subject.kind):
        if rule.basis == Basis.CONSENT:
            if rule.field.key not in agreed:
                stays.append({"label": rule.field.label_ko, "why": "동의하지 않음"})
        elif rule.basis == Basis.PROHIBITED or (rule.basis == Basis.NOTICE_OPT_OUT and objected):
            stays.append({"label": rule.field.label_ko,
                          "why": "이전 거부" if rule.basis == Basis.NOTICE_OPT_OUT
                          else (rule.note or "이전하지 않는 항목")})
        else:
            other.append({"label": rule.field.label_ko,
                          "basis": BASIS_GROUNDS.get(rule.basis, rule.basis)})
    return {"moves_other": other, "stays": stays}
