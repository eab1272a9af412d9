"""The SMS text: one short Korean sentence and the link.

Korean carriers take text in their own encoding (cp949, i.e. KS X 1001 plus the Unified
Hangul Code); an SMS holds 90 bytes of it (about 45 Hangul), longer text goes as one LMS of
up to 2,000 bytes. Every body we send is checked against both before it leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def sms_size(text: str) -> SmsSize:
    """How the carriers will carry ``text``; raises UnsendableText if they cannot."""
    try:
        size = len(text.encode(CARRIER_ENCODING))
    except UnicodeEncodeError as exc:
        raise UnsendableText(
            f"character {text[exc.start:exc.end]!r} is not in the carriers' encoding (cp949)"
        ) from exc
    if size > LMS_BYTES:
        raise UnsendableText(f"{size} bytes: longer than one LMS ({LMS_BYTES} bytes)")
    return SmsSize("SMS" if size <= SMS_BYTES else "LMS", size)


def sms_body(*, url: str, reminder: bool = False, notice_only: bool = False) -> str:
    """The message for one link: an invitation or a reminder, to consent or (Art. 27) to
    read a notice with the right to object."""
    sentence = _SENTENCES[("again" if reminder else "first",
                           "notice" if notice_only else "consent")]
    body = f"{sentence}\n{url}"
    sms_size(body)
    return body


def redact(body: str, token: str) -> str:
    """The body as stored: the token replaced, so the database never holds a live link."""
    return body.replace(token, "[링크]")
