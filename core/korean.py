"""Korean text: the particle a word takes (`josa`), for pages, messages and errors written
around names the service does not know in advance (operators, plans, fields)."""

from __future__ import annotations


def josa(word: str, with_final: str, without_final: str) -> str:
    """``word`` with the particle its last syllable takes ("서울특별시" + 는, "진흥원" + 이):
    a public page in Korean reads "서울특별시는", not "서울특별시은(는)". Closing quotes and
    brackets are read past ("'이전 계획'" + 은). A word that does not end in a Hangul
    syllable keeps both forms."""
    last = word.rstrip().rstrip("'\")]」』’”").rstrip()[-1:]
    if not ("\uac00" <= last <= "\ud7a3"):
        return f"{word}{with_final}({without_final})"
    has_final = (ord(last) - 0xAC00) % 28 != 0
    return word + (with_final if has_final else without_final)
