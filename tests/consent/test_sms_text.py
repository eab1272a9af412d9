"""The SMS text: one short Korean sentence and the link, in one LMS, in the carriers' encoding."""

import pytest

from consent.sms_text import LMS_BYTES, UnsendableText, redact, sms_body, sms_size

URL = "https://consent.seoul.go.kr/c/" + "Ab3_-" * 4 + "Zz"


@pytest.mark.parametrize("reminder", [False, True])
@pytest.mark.parametrize("notice_only", [False, True])
def test_every_message_fits_one_lms_and_encodes_in_cp949(reminder, notice_only):
    body = sms_body(url=URL, reminder=reminder, notice_only=notice_only)

    assert body.endswith(URL)
    encoded = body.encode("cp949")  # raises if a carrier could not carry a character
    assert len(encoded) <= LMS_BYTES
    assert sms_size(body).carrier_bytes == len(encoded)
    assert body.count("\n") == 1  # one sentence, then the link


def test_it_counts_hangul_as_two_bytes_and_says_when_a_text_needs_an_lms():
    assert sms_size("가" * 45).kind == "SMS"   # 90 bytes: one SMS segment
    assert sms_size("가" * 46).kind == "LMS"   # 92 bytes: too long for one


def test_it_refuses_characters_the_carriers_cannot_carry():
    with pytest.raises(UnsendableText, match="cp949"):
        sms_size("동의해 주세요 😀")


def test_it_refuses_a_text_longer_than_one_lms():
    with pytest.raises(UnsendableText, match="LMS"):
        sms_size("가" * 1001)


def test_the_stored_body_has_the_token_masked():
    token = "Ab3_-Ab3_-Ab3_-Ab3_-Zz"
    stored = redact(sms_body(url=URL), token)
    assert token not in stored
    assert "[링크]" in stored


@pytest.mark.parametrize("source, reads", [
    ("한국간편결제진흥원", "현재 운영사 한국간편결제진흥원이 보유한"),
    ("비즈플레이", "현재 운영사 비즈플레이가 보유한"),
])
def test_the_notice_lms_names_the_source_with_the_particle_it_takes(source, reads):
    import datetime as dt

    from consent.sms_text import NoticeFacts, notice_text

    facts = NoticeFacts(recipient="신한카드 컨소시엄", recipient_contact="", source=source,
                        subject_noun="이용자님", items=("이름",), period_days=30,
                        cutover_at=dt.datetime(2026, 12, 20, tzinfo=dt.UTC),
                        call_centre="1600-0000")
    text = notice_text(facts=facts, url="https://example.test/c/x")
    assert reads in text and "이(가)" not in text
