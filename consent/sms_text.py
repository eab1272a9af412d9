"""The SMS text: a short Korean sentence and the link, or the whole Art. 27 notice in one LMS.

Korean carriers take text in their own encoding (cp949, i.e. KS X 1001 plus the Unified
Hangul Code); an SMS holds 90 bytes of it (about 45 Hangul), longer text goes as one LMS of
up to 2,000 bytes. Every body we send is checked against both before it leaves, and a
campaign whose longest possible body would not fit one LMS is refused at launch
(`longest_body_bytes`).

A campaign about Art. 27 (`notice_opt_out`) items only sends the notice itself
(`notice_body`): its delivery is the evidence that the notice reached that subject, so the
message names the recipient and how to reach it, what moves, from when, how to object, and
carries the personal link. A consent campaign's invitation names the recipient and the
required items (`ConsentFacts`) and says that a reply of 동의/거부 answers those items only:
an SMS reply agrees to what the SMS stated, never to an optional item (those, and the whole
Art. 17(2) notice, are on the page behind the link). `reply_statement` is that sentence;
`consent.services.replies` applies a reply only when the SMS it answers carried it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from core.korean import josa

SMS_BYTES = 90
LMS_BYTES = 2000
CARRIER_ENCODING = "cp949"

_SENTENCES = {
    # (purpose group, what is asked) -> sentence before the link
    ("first", "consent"): "[서울사랑상품권] 운영사 변경에 따른 개인정보 제공 동의를 요청드립니다.",
    ("again", "consent"): "[서울사랑상품권] 개인정보 제공 동의 요청에 아직 응답하지 않으셔서 "
                          "다시 안내드립니다.",
    ("first", "notice"): "[서울사랑상품권] 운영사 변경에 따른 개인정보 이전을 안내드립니다.",
    ("again", "notice"): "[서울사랑상품권] 운영사 변경에 따른 개인정보 이전을 다시 안내드립니다.",
}


class UnsendableText(ValueError):
    """The text would not reach a Korean handset intact."""


@dataclass(frozen=True)
class SmsSize:
    kind: str  # "SMS" | "LMS"
    carrier_bytes: int


def carrier_bytes(text: str) -> int:
    """The length of ``text`` in the carriers' encoding; raises UnsendableText for a character
    they cannot carry."""
    try:
        return len(text.encode(CARRIER_ENCODING))
    except UnicodeEncodeError as exc:
        raise UnsendableText(
            f"character {text[exc.start:exc.end]!r} is not in the carriers' encoding (cp949)"
        ) from exc


def sms_size(text: str) -> SmsSize:
    """How the carriers will carry ``text``; raises UnsendableText if they cannot."""
    size = carrier_bytes(text)
    if size > LMS_BYTES:
        raise UnsendableText(f"{size} bytes: longer than one LMS ({LMS_BYTES} bytes)")
    return SmsSize("SMS" if size <= SMS_BYTES else "LMS", size)


@dataclass(frozen=True)
class ConsentFacts:
    """What a consent campaign's SMS states: who receives, and the required items (labels,
    in catalogue order). A reply of 동의/거부 answers exactly these."""

    recipient: str
    required: tuple[str, ...]


def reply_statement(facts: ConsentFacts) -> str:
    """The sentence that makes an SMS answerable by reply: it names the recipient and every
    required item, and says the reply covers nothing else. Empty without required items (a
    reply would then have nothing it could agree to)."""
    if not facts.required:
        return ""
    return (f"필수 항목({', '.join(facts.required)})을 {facts.recipient}에 제공하는 데 "
            "동의하시면 '동의', 원하지 않으시면 '거부'라고 회신해 주세요. 회신은 이 필수 "
            "항목에만 적용되며, 선택 항목은 링크에서 따로 고르실 수 있습니다.")


def sms_body(*, url: str, reminder: bool = False, notice_only: bool = False,
             consent: ConsentFacts | None = None) -> str:
    """The invitation or reminder of a consent campaign: one sentence, the reply statement
    when ``consent`` names required items, and the link.

    ``notice_only`` keeps the short notice sentence for callers that send no full notice
    (a notice campaign sends `notice_body`)."""
    body = _consent_text(url=url, reminder=reminder, notice_only=notice_only, consent=consent)
    sms_size(body)
    return body


def _consent_text(*, url: str, reminder: bool, notice_only: bool = False,
                  consent: ConsentFacts | None) -> str:
    sentence = _SENTENCES[("again" if reminder else "first",
                           "notice" if notice_only else "consent")]
    statement = reply_statement(consent) if consent is not None and not notice_only else ""
    if statement:
        return f"{sentence}\n{statement}\n자세한 안내와 응답: {url}"
    return f"{sentence}\n{url}"


@dataclass(frozen=True)
class NoticeFacts:
    """What the Art. 27 notice LMS states, taken from the approved plan version."""

    recipient: str          # the incoming operator
    recipient_contact: str  # its address / phone
    source: str             # the outgoing operator, who holds the data today
    subject_noun: str       # 이용자님 / 가맹점주님
    items: tuple[str, ...]  # the labels of the Art. 27 items, in catalogue order
    period_days: int
    cutover_at: dt.datetime | None
    call_centre: str
    controller: str = ""    # the programme's controller (the city), on whose behalf both
                            # operators process its data


def _when(value: dt.datetime | None) -> str:
    return (timezone.localtime(value).strftime("%Y년 %m월 %d일 %H:%M") if value
            else "추후 안내")


def notice_text(*, facts: NoticeFacts, url: str, reminder: bool = False) -> str:
    """The Art. 27 notice as one LMS, ending with the personal link (not size-checked)."""
    contact = f" (연락처: {facts.recipient_contact})" if facts.recipient_contact else ""
    lines = [
        "[서울사랑상품권] 개인정보 이전 " + ("재안내" if reminder else "안내")
        + " (개인정보 보호법 제27조)",
        f"운영사 변경에 따라 현재 운영사 {josa(facts.source, '이', '가')} 보유한 "
        f"{facts.subject_noun}의 "
        "개인정보가 아래와 같이 새 운영사로 이전됩니다.",
        *([f"(개인정보처리자: {facts.controller}. 두 운영사는 {facts.controller}의 위탁을 받아 "
           "처리하는 수탁자입니다.)"] if facts.controller else []),
        f"1. 이전받는 자: {facts.recipient}{contact}",
        f"2. 이전 항목: {', '.join(facts.items) or '없음'}",
        f"3. 이전 시기: 이 안내를 받으신 때부터 {facts.period_days}일 후 "
        f"(운영사 전환 일시: {_when(facts.cutover_at)}). 원하시면 아래 링크에서 지금 바로 이전을 "
        "요청하실 수 있습니다.",
        "4. 이전을 원하지 않으시면: 아래 링크에서 [이전 거부]를 누르시거나 "
        f"콜센터({facts.call_centre})로 알려 주십시오. 거부하시면 위 항목은 이전되지 않습니다.",
        f"개인 링크: {url}",
    ]
    return "\n".join(lines)


def notice_body(*, facts: NoticeFacts, url: str, reminder: bool = False) -> str:
    """`notice_text`, checked to fit one LMS in cp949 (raises UnsendableText otherwise;
    `campaign_launch` measures the longest body first, so a running campaign never does)."""
    body = notice_text(facts=facts, url=url, reminder=reminder)
    sms_size(body)
    return body


def longest_body_bytes(*, facts: NoticeFacts | None, url_length: int, base_url: str,
                       consent: ConsentFacts | None = None) -> int:
    """The carrier bytes of the longest body a campaign can send: its invitation or a
    reminder, with a link of ``url_length`` characters under ``base_url``; ``facts`` for a
    campaign that sends the Art. 27 notice, None for a consent campaign (whose ``consent``
    facts its SMS state). Raises
    UnsendableText for a character the carriers cannot carry; the LMS limit is the caller's
    to compare, so it can report the measured size."""
    url = base_url + "A" * max(0, url_length - len(base_url))
    bodies = []
    for reminder in (False, True):
        if facts is None:
            bodies.append(_consent_text(url=url, reminder=reminder, consent=consent))
        else:
            bodies.append(notice_text(facts=facts, url=url, reminder=reminder))
    return max(carrier_bytes(body) for body in bodies)


def redact(body: str, token: str) -> str:
    """The body as stored: the token replaced, so the database never holds a live link."""
    return body.replace(token, "[링크]")
