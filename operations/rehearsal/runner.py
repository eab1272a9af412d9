"""Stages of a rehearsal: each is timed, shows a progress bar, and notes what it did."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from tqdm import tqdm


@dataclass
class StageTiming:
    key: str
    label: str
    seconds: float = 0.0
    note: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass
class Progress:
    """The stages run so far; `stage()` opens one with its own progress bar."""

    quiet: bool = False
    stages: list[StageTiming] = field(default_factory=list)

    @contextmanager
    def stage(self, key: str, label: str, total: int | None = None) -> Iterator[_Stage]:
        timing = StageTiming(key, label)
        bar = tqdm(total=total, desc=label, unit="", disable=self.quiet, leave=True,
                   dynamic_ncols=True)
        started = time.perf_counter()
        timing.started_at = timezone.now()
        try:
            yield _Stage(timing, bar)
        finally:
            bar.close()
            timing.seconds = time.perf_counter() - started
            timing.ended_at = timezone.now()
            self.stages.append(timing)

    def as_rows(self) -> list[dict]:
        return [{"key": s.key, "label": s.label, "seconds": round(s.seconds, 2), "note": s.note,
                 "started_at": s.started_at.isoformat() if s.started_at else None,
                 "ended_at": s.ended_at.isoformat() if s.ended_at else None}
                for s in self.stages]


@dataclass
class _Stage:
    timing: StageTiming
    bar: tqdm

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)

    def note(self, text: str) -> None:
        self.timing.note = text
        self.bar.set_postfix_str(text[:60])
