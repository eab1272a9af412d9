"""The Seoul scenario for `python manage.py demo`: safe to run again, nothing is duplicated.

The city, KEPF (outgoing), the Shinhan consortium (incoming) and the Bizplay consortium, each
with generated X25519 (HPKE) and Ed25519 keys: only the public halves go into the database;
the private halves stay in ``VAR_DIR/demo-operator-keys/<CODE>.json`` (mode 0600) so the
transfers reference client can decrypt and sign as that operator. Then the field catalogue,
who controls each field, the 2022 dispute over representative name and phone and the PIPC
ruling of 2022-03-04, an approved KEPF -> Shinhan plan using every basis, and a few hundred
synthetic merchants and users (010-0000-xxxx phones, check-digit-valid business numbers).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from governance.models import DataSubject, FieldRule, Operator, OperatorKey, TransferPlan
from governance.seoul import (
    DISPUTED_FIELDS,
    NOT_MOVED_REASONS,
    PLAN_VALUES,
    seoul_catalogue_ensure,
    seoul_operators_ensure,
    seoul_plan_rules,
    synthetic_brn,
    synthetic_phone,
)
from governance.services import (
    dispute_open,
    operator_key_register,
    plan_approve,
    plan_create,
    plan_rule_set,
    plan_submit,
    ruling_record,
    subjects_upsert,
)

SYSTEM = ("system", "system:demo")
MERCHANTS, USERS = 300, 200
DISPUTE_TITLE = "2022 가맹점 대표자명·전화번호 관리 주체 분쟁"
KEYED_OPERATORS = ("KEPF", "SHINHAN", "BIZPLAY")


def demo_keys_dir() -> Path:
    return settings.VAR_DIR / "demo-operator-keys"


def load(stdout=None) -> str:
    operators = seoul_operators_ensure(by=SYSTEM)
    for code in KEYED_OPERATORS:
        _ensure_keys(operators[code])
    fields = seoul_catalogue_ensure(by=SYSTEM)
    _ensure_ownership(operators, fields)
    plan = _ensure_plan(operators, fields)
    _ensure_subjects(operators["KEPF"])
    return (f"{len(operators)} operators, {len(fields)} fields, "
            f"{DataSubject.objects.filter(kind='merchant').count()} merchants, "
            f"{DataSubject.objects.filter(kind='user').count()} users, "
            f"plan '{plan}' {plan.status}; operator private keys in {demo_keys_dir()}")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _ensure_keys(operator: Operator) -> None:
    path = demo_keys_dir() / f"{operator.code}.json"
    if path.exists():
        stored = json.loads(path.read_text())
        hpke = X25519PrivateKey.from_private_bytes(base64.b64decode(stored["hpke_private_key"]))
        signing = Ed25519PrivateKey.from_private_bytes(
            base64.b64decode(stored["signing_private_key"]))
    else:
        hpke, signing = X25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    raw_public = (Encoding.Raw, PublicFormat.Raw)
    raw_private = (Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    key_ids = {}
    for purpose, private in ((OperatorKey.Purpose.ENCRYPTION, hpke),
                             (OperatorKey.Purpose.SIGNATURE, signing)):
        public = private.public_key().public_bytes(*raw_public)
        key = OperatorKey.objects.filter(operator=operator, public_key=public).first()
        if key is None:
            key = operator_key_register(operator=operator, purpose=purpose, public_key=public,
                                        by=SYSTEM)
        key_ids[purpose] = key.key_id
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        path.write_text(json.dumps({
            "operator": operator.code,
            "hpke_private_key": _b64(hpke.private_bytes(*raw_private)),
            "hpke_key_id": key_ids[OperatorKey.Purpose.ENCRYPTION],
            "signing_private_key": _b64(signing.private_bytes(*raw_private)),
            "signing_key_id": key_ids[OperatorKey.Purpose.SIGNATURE],
        }, indent=2))
        path.chmod(0o600)


def _ensure_ownership(operators, fields) -> None:
    from governance.models import OwnershipDispute

    # Each field's controller, with its reason, is the Seoul map's
    # (governance.seoul.CONTROLLERS, recorded by seoul_catalogue_ensure).
    city, kepf = operators["SEOUL"], operators["KEPF"]
    dispute = OwnershipDispute.objects.filter(title=DISPUTE_TITLE).first()
    if dispute is None:
        # Demo dates for the opening and the referral; the ruling date is the PIPC's.
        dispute = dispute_open(
            title=DISPUTE_TITLE, fields=[fields[k] for k in DISPUTED_FIELDS],
            claimant=city, counter_claimant=kepf, by=SYSTEM,
            claimant_ground="가맹점 핵심 정보는 사업 주관자인 서울시의 정보이며 운영사는 수탁자임",
            counter_ground="대표자명·전화번호는 운영사의 영업 정보이며 가맹점 동의 없이 제공 불가",
            opened_on=dt.date(2022, 1, 20), referred_on=dt.date(2022, 2, 7))
    if not hasattr(dispute, "ruling"):
        ruling_record(
            dispute=dispute, authority="개인정보보호위원회 (PIPC)", decided_on=dt.date(2022, 3, 4),
            controller=city, processor=kepf, by=SYSTEM, reference="법령해석 (demo)",
            outcome="운영사는 서울시의 개인정보 처리 수탁자이므로, 위탁 종료 시 가맹점 정보를 "
                    "서울시 또는 서울시가 지정한 새 수탁자에게 반환할 수 있음",
            effect="대표자명·전화번호는 분쟁 상태에서 벗어나 계획의 이전 근거(위탁 반환, 제26조)를 "
                   "따름")


def _ensure_plan(operators, fields) -> TransferPlan:
    plan = TransferPlan.objects.filter(title=PLAN_VALUES["title"]).order_by("-version").first()
    if plan is not None:
        return plan
    users = get_user_model().objects
    officer = users.filter(username="officer").first()
    second = users.filter(username="officer2").first()
    now = timezone.now()
    plan = plan_create(by=officer or SYSTEM, controller=operators["SEOUL"],
                       from_operator=operators["KEPF"],
                       to_operator=operators["SHINHAN"], rules=seoul_plan_rules(fields),
                       notice_starts_at=now, cutover_at=now + dt.timedelta(days=31),
                       **PLAN_VALUES)
    for rule in plan.rules.filter(field__key__in=NOT_MOVED_REASONS,
                                  basis=FieldRule.Basis.PROHIBITED).select_related("field"):
        # Why it does not move, for the privacy page.
        plan_rule_set(plan=plan, field=rule.field, basis=rule.basis, by=officer or SYSTEM,
                      note=NOT_MOVED_REASONS[rule.field.key][:300])
    if officer is None or second is None:
        return plan  # no demo staff: leave it as a draft for someone to submit
    plan_submit(plan=plan, by=officer)
    return plan_approve(plan=plan, by=second)


def _ensure_subjects(kepf: Operator) -> None:
    for kind, prefix, count in (("merchant", "M", MERCHANTS), ("user", "U", USERS)):
        existing = set(DataSubject.objects.filter(source_operator=kepf, kind=kind)
                       .values_list("external_id", flat=True))
        rows = []
        for i in range(1, count + 1):
            external_id = f"{prefix}-{i:06d}"
            if external_id in existing:
                continue
            n = i if kind == "merchant" else 5000 + i
            row = {"external_id": external_id, "phone": synthetic_phone(n)}
            if kind == "merchant":
                row["brn"] = synthetic_brn(i)
            rows.append(row)
        if rows:
            subjects_upsert(operator=kepf, kind=kind, rows=rows, by=SYSTEM)
