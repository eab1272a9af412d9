"""Who is who for a plan, in the words the subject's pages and receipts use.

The roles are governance's (`governance.selectors.plan_roles`): the controller (the city, 개인정보
처리자) on whose behalf the outgoing and incoming operators process the programme's data
(수탁자), and the outgoing operator's subcontractor (재수탁자) where it has one. The outgoing
operator is never called the "provider": a processor returns the data to its controller's
next processor on the controller's instruction (PIPA Art. 26), it provides nothing of its own
accord.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.models import TransferPlan


@dataclass(frozen=True)
class Party:
    role: str          # controller | processor | subprocessor (ISO/IEC 29100 terms)
    role_ko: str       # 개인정보처리자 | 수탁자 (이전 운영사) | ...
    title: str         # how the pages call it: 개인정보처리자, 현재 운영사, 새 운영사, 재수탁자
    duty: str          # what it does in this move, in Korean
    name: str
    name_en: str
    address: str
    phone: str
    privacy_officer: str
    privacy_officer_contact: str
    on_behalf_of: str  # the name of the party it acts for ("" for the controller)
    controls: tuple[str, ...] = ()  # the plan's fields it controls itself (catalogue)


def _party(operator, *, role: str, role_ko: str, title: str, duty: str,
           on_behalf_of: str = "", controls: tuple[str, ...] = ()) -> Party:
    return Party(role=role, role_ko=role_ko, title=title, duty=duty, name=operator.name,
                 controls=controls,
                 name_en=operator.name_en or "", address=operator.address or "",
                 phone=operator.phone or "",
                 privacy_officer=getattr(operator, "privacy_officer_name", "") or "",
                 privacy_officer_contact=getattr(operator, "privacy_officer_contact", "") or "",
                 on_behalf_of=on_behalf_of)


def plan_parties(plan: TransferPlan) -> list[Party]:
    """The plan's parties: the controller first (when the plan names one), then the outgoing
    and incoming processors and the outgoing processor's subcontractor, if any; each with
    the plan's fields the catalogue says it controls itself."""
    from governance.selectors import plan_roles

    roles = plan_roles(plan)
    controller = roles.controller
    controls: dict[int, list[str]] = {}
    for key, operator in sorted(roles.field_controllers.items()):
        controls.setdefault(operator.pk, []).append(key)

    def own(operator) -> tuple[str, ...]:
        return tuple(controls.get(operator.pk, ()))

    parties = []
    behalf = controller.name if controller is not None else ""
    if controller is not None:
        parties.append(_party(controller, role="controller",
                              role_ko="개인정보처리자 (controller)", title="개인정보처리자",
                              duty="서울사랑상품권 사업의 개인정보처리자",
                              controls=own(controller)))
    parties.append(_party(roles.outgoing_processor, role="processor",
                          role_ko="수탁자 — 현재 운영사 (outgoing processor)",
                          title="현재 운영사",
                          duty=(f"{behalf}의 위탁을 받아 지금까지 처리해 온 운영사" if behalf
                                else "지금까지 처리해 온 운영사"),
                          on_behalf_of=behalf, controls=own(roles.outgoing_processor)))
    parties.append(_party(roles.incoming_processor, role="processor",
                          role_ko="수탁자 — 새 운영사 (incoming processor)",
                          title="새 운영사",
                          duty=(f"{behalf}의 위탁을 받아 앞으로 처리할 운영사" if behalf
                                else "앞으로 처리할 운영사"),
                          on_behalf_of=behalf, controls=own(roles.incoming_processor)))
    if roles.subcontractor is not None:
        parties.append(_party(roles.subcontractor, role="subprocessor",
                              role_ko="재수탁자 (subcontractor)", title="재수탁자",
                              duty=f"{roles.outgoing_processor.name}의 재위탁을 받아 처리한 자",
                              on_behalf_of=roles.outgoing_processor.name))
    return parties


def field_controllers(plan: TransferPlan, *, on=None) -> dict[str, str]:
    """Field key -> the name of the operator that controls it by the catalogue's ownership
    (and the rulings it records): now, or ``on`` a date (a receipt asks for its record's
    day, so a later ruling does not rewrite it)."""
    if on is None:
        from governance.selectors import plan_roles

        return {key: op.name for key, op in plan_roles(plan).field_controllers.items()}
    from django.db.models import Q

    from governance.models import FieldOwnership, Operator

    rows = (FieldOwnership.objects
            .filter(field__rules__plan=plan, role=Operator.Role.CONTROLLER)
            .filter(Q(since__isnull=True) | Q(since__lte=on))
            .filter(Q(until__isnull=True) | Q(until__gt=on))
            .order_by("since", "id").values_list("field__key", "operator__name"))
    return dict(rows)  # a later row (since) wins, as in governance.selectors
