"""Errors of the consent app. Every message is Korean and safe to show to the subject (or an
officer): it names no personal value and does not reveal whether some other subject exists."""

from __future__ import annotations


class ConsentError(Exception):
    """Base: the request cannot be done; ``str(error)`` / ``error.message`` may be shown."""

    default_message = "요청을 처리할 수 없습니다. 콜센터로 문의해 주세요."

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)


class RequestClosed(ConsentError):
    """The consent request expired or was cancelled: answers are no longer taken."""

    default_message = "응답 기한이 지났거나 취소된 요청입니다. 콜센터로 문의해 주세요."


class InvalidAnswer(ConsentError):
    """Unknown items, an item both agreed and declined, an empty answer, mixed required items."""

    default_message = "선택한 항목을 확인해 주세요."


class NothingToWithdraw(ConsentError):
    default_message = "철회할 동의가 없습니다."


class NothingToObject(ConsentError):
    default_message = "이 요청에는 이전을 거부할 수 있는 고지 항목이 없습니다."


class AlreadyObjected(ConsentError):
    default_message = "이미 이전 거부가 접수되었습니다."


class OfficerRequired(ConsentError):
    """A phone-call record needs the officer who took it and a reason."""

    default_message = "전화로 받은 응답은 기록한 담당자와 사유가 필요합니다."


class IdentityFailed(ConsentError):
    """The identity check did not match (or the input was malformed: no detail is given)."""

    default_message = "입력하신 정보가 일치하지 않습니다. 다시 확인해 주세요."


class IdentityLocked(ConsentError):
    """Too many failed identity checks on this request: locked for a while."""

    default_message = ("확인에 여러 번 실패하여 잠시 잠겼습니다. "
                       "30분 후 다시 시도하시거나 콜센터로 문의해 주세요.")


class TooManyAttempts(ConsentError):
    """Rate limit per client address (many requests tried from one place)."""

    default_message = "시도가 너무 많습니다. 잠시 후 다시 시도해 주세요."
