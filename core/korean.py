"""Korean text: the particle a word takes (`josa`), for pages, messages and errors written
around names the service does not know in advance (operators, plans, fields)."""

from __future__ import annotations

# How a number's last spoken syllable ends, by its last digit: 일, 삼, 육, 칠, 팔 and (for
# 0) 영, 십, 백, 천, 만 end in a consonant; 이, 사, 오, 구 do not.
_DIGIT_HAS_FINAL = {"0": True, "1": True, "2": False, "3": True, "4": False, "5": False,
                    "6": True, "7": True, "8": True, "9": False}


def josa(word: str, with_final: str, without_final: str) -> str:
    """``word`` with the particle its last syllable takes ("서울특별시" + 는, "진흥원" + 이):
    a public page in Korean reads "서울특별시는", not "서울특별시은(는)". Closing quotes and
    brackets are read past ("'이전 계획'" + 은, "OO페이(주)" + 가), and a number as it is
    read aloud ("v3" + 은: 삼). A word that ends in neither a Hangul syllable nor a digit
    (Latin letters) keeps both forms."""
    last = word.rstrip().rstrip("'\")]」』’”").rstrip()[-1:]
    if last in _DIGIT_HAS_FINAL:
        has_final = _DIGIT_HAS_FINAL[last]
    elif "\uac00" <= last <= "\ud7a3":
        has_final = (ord(last) - 0xAC00) % 28 != 0
    else:
        return f"{word}{with_final}({without_final})"
    return word + (with_final if has_final else without_final)
