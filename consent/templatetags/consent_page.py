"""Template tags for pages that may render without a request context (the error pages)."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def call_centre_phone() -> str:
    return settings.CALL_CENTRE_PHONE


_ACTIONS = {"answer": "동의 여부 응답", "withdraw": "동의 철회", "object": "이전 거부",
            "early_request": "조기 이전 요청", "early_withdraw": "조기 이전 요청 철회"}
_CHANNELS = {"web": "개인 링크", "sms_reply": "문자 회신", "phone": "전화 (담당자 기록)"}
_FACTORS = {"brn": "사업자등록번호", "phone_last4": "휴대전화 번호 뒤 4자리",
            "phone_match": "등록된 휴대전화 번호", "officer_call": "담당자 전화 확인",
            "sms_code": "휴대전화 인증번호"}


# How the Art. 27 notice reached the subject (governance.NoticeChannel), as the subject reads it.
_NOTICE_CHANNELS = {"lms": "안내 문자(LMS) 수신", "link": "이 링크에서 안내문 열람",
                    "operator": "기존 운영사의 안내 (앱 공지·우편)", "phone": "전화 안내"}


@register.filter
def notice_channel_ko(channel: str) -> str:
    return _NOTICE_CHANNELS.get(channel, channel)


@register.filter
def action_ko(action: str) -> str:
    return _ACTIONS.get(action, action)


@register.filter
def channel_ko(channel: str) -> str:
    return _CHANNELS.get(channel, channel)


@register.filter
def factor_ko(factor: str) -> str:
    return _FACTORS.get(factor, factor)
