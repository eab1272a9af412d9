"""What every stage of the rehearsal shares: its options, who each simulated person is and
what they will do (the cast, drawn with the seed), and the context the stages fill in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from operations.rehearsal.runner import Progress

SYSTEM = ("system", "system:rehearsal")
BATCH_ROWS = 20_000


@dataclass
class Options:
    merchants: int = 200
    users: int = 300
    seed: int = 2024
    base_url: str | None = None   # None: serve in this process on a free port
    standin_url: str | None = None  # with base_url: the SMS stand-in its workers send to
    http_answers: int = 3_000     # at most this many merchants answer over HTTP
    sms_users: int | None = None  # users notified by LMS (None: all but app_share of them)
    app_share: float = 0.2        # users told in KEPF's app (attested), when sms_users is None
    undelivered_share: float = 0.05  # of the users' LMS: handsets the stand-in cannot reach
    early_share: float = 0.1      # of the users the LMS reached: ask to move now
    day_seconds: int = 20         # how long a day of the rehearsal plan's notice period lasts
    workers: int = 8              # simulated people answering at the same time
    out: Path | None = None
    quiet: bool = False


# Who does what, as shares of the merchants (drawn with the seed).
PROFILES = (("agree_all", 0.45), ("required_only", 0.15), ("decline", 0.10),
            ("opened_only", 0.05), ("never", 0.25))


WITHDRAW_SHARE = 0.10   # of the merchants who agreed to everything, after release 1


OBJECT_SHARE = 0.03     # of the users notified by LMS


@dataclass
class Cast:
    """Who each simulated person is and what they will do (no personal value kept here)."""

    merchant_profile: dict[int, str] = field(default_factory=dict)  # merchant index -> profile
    withdrawing: set[int] = field(default_factory=set)
    lms_users: range = range(0)                          # user indices notified by LMS
    app_users: range = range(0)                          # user indices told in KEPF's app
    early_users: set[int] = field(default_factory=set)   # ask to move now (if reached)
    objecting_users: set[int] = field(default_factory=set)  # object (if reached)


@dataclass
class Context:
    options: Options
    progress: Progress
    base_url: str = ""
    out: Path = Path()
    plan: object = None
    dispute: object = None
    officer: object = None
    second_officer: object = None
    kepf_client: tuple[str, str] = ("", "")
    shinhan_client: tuple[str, str] = ("", "")
    shinhan_keys: dict = field(default_factory=dict)
    standin: object = None
    cast: Cast = field(default_factory=Cast)
    links: dict[str, str] = field(default_factory=dict)  # external id -> newest link
    facts: dict = field(default_factory=dict)            # what happened, for the report
    releases: list[dict] = field(default_factory=list)

