"""The audit's vocabulary: pillars, severities, levels, outcomes, results and the check base class.

A check is one small class in the shape of repo-review's checks: the class name is its ID, class
attributes carry its metadata, the docstring is the advice shown to the user, and `check()` takes
the evidence it needs as arguments named after fixtures (see `fixtures.py`). Defining the class
registers it; `checks/` holds them, one module per kind of evidence.
"""

from __future__ import annotations

import enum
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

DOCS_URL = "https://mlops-handover.readthedocs.io/en/latest/checks/"


class Pillar(enum.Enum):
    """What a client must be able to do alone; the headline level is the weakest pillar's."""

    REPRODUCE = "Reproduce"
    RETRAIN = "Retrain"
    OPERATE = "Operate"
    SECURE = "Secure"
    OWN = "Own"


class Severity(enum.Enum):
    """Scorecard's risk weights: what a failure costs in the pillar's weighted mean."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def weight(self) -> float:
        return {"critical": 10.0, "high": 7.5, "medium": 5.0, "low": 2.5}[self.value]


LEVELS = {
    0: "vendor-dependent",
    1: "reproducible",
    2: "retrainable",
    3: "operable",
    4: "owned",
}


def level_name(level: int) -> str:
    return f"L{level} {LEVELS[level]}"


def parse_level(text: str) -> int:
    """`L2`, `l2`, `2` or `retrainable` -> 2; ValueError naming the choices otherwise."""
    value = text.strip().lower()
    for number, name in LEVELS.items():
        if value in (f"l{number}", str(number), name):
            return number
    choices = ", ".join(f"L{n} ({name})" for n, name in LEVELS.items())
    raise ValueError(f"unknown level {text!r}; choose one of {choices}")


class Outcome(enum.Enum):
    PASS = "pass"
    PARTIAL = "partial"
    FAIL = "fail"
    NOT_APPLICABLE = "n/a"
    UNKNOWN = "unknown"
    WAIVED = "waived"
    ATTESTED = "attested"

    @property
    def scored(self) -> bool:
        """Counted in the pillar's mean; n/a, waived and unknown are listed, not scored."""
        return self in (Outcome.PASS, Outcome.PARTIAL, Outcome.FAIL, Outcome.ATTESTED)


@dataclass(frozen=True)
class Result:
    """What one check found: the outcome, a score in [0, 1], why, and the evidence it used."""

    outcome: Outcome
    score: float | None = None
    message: str = ""
    evidence: tuple[str, ...] = ()
    #: For failures: the paths (and 1-based lines) the finding is about, for SARIF and reports.
    locations: tuple[tuple[str, int | None], ...] = ()

    def __post_init__(self) -> None:
        if self.score is None:
            default = {Outcome.PASS: 1.0, Outcome.ATTESTED: 1.0, Outcome.FAIL: 0.0}
            object.__setattr__(self, "score", default.get(self.outcome))


def passed(message: str = "", *evidence: str) -> Result:
    return Result(Outcome.PASS, message=message, evidence=evidence)


def failed(
    message: str, *evidence: str, locations: tuple[tuple[str, int | None], ...] = ()
) -> Result:
    return Result(Outcome.FAIL, message=message, evidence=evidence, locations=locations)


def partial(
    score: float,
    message: str,
    *evidence: str,
    locations: tuple[tuple[str, int | None], ...] = (),
) -> Result:
    """Some of what the check asks for: `score` strictly between 0 and 1."""
    return Result(
        Outcome.PARTIAL,
        score=min(max(score, 0.01), 0.99),
        message=message,
        evidence=evidence,
        locations=locations,
    )


def plural(count: int, word: str) -> str:
    """`1 file`, `3 files`: counts in messages."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def not_applicable(reason: str, *evidence: str) -> Result:
    return Result(Outcome.NOT_APPLICABLE, message=reason, evidence=evidence)


def unknown(reason: str, *evidence: str) -> Result:
    return Result(Outcome.UNKNOWN, message=reason, evidence=evidence)


def attested(message: str, *evidence: str) -> Result:
    """A human sign-off vouches for what no file can show (the audit checked it is well formed)."""
    return Result(Outcome.ATTESTED, message=message, evidence=evidence)


class Unavailable(Exception):
    """Evidence that cannot be had (no git, malformed file, server down): the check is unknown.

    Its subclasses make the check fail instead: `Missing` and `Unreadable`."""


class Missing(Unavailable):
    """Evidence that does not exist at all (no tracking store anywhere): absence is the finding,
    so the checks that need it fail with the reason instead of reporting unknown."""


class Unreadable(Unavailable):
    """Evidence that exists but cannot be read (corrupt, permission denied, too large, not a
    regular file): the checks that need it fail with the reason, so evidence the audit could
    not read never raises a level (unknown checks are not scored)."""


_REGISTRY: dict[str, type[Check]] = {}
_ID = re.compile(r"^[A-Z]{2}\d{3}$")


class Check:
    """Base of every check. Subclasses set the metadata and implement `check(**fixtures)`."""

    pillar: ClassVar[Pillar]
    severity: ClassVar[Severity]
    #: The readiness level (1-4) at which this check starts to count.
    level: ClassVar[int]
    #: Only a human sign-off can pass it; without one it fails, with one it is attested.
    needs_attestation: ClassVar[bool] = False

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        """Validate the metadata and register the check (`register=False`: tests' own checks)."""
        super().__init_subclass__(**kwargs)
        if not _ID.match(cls.__name__):
            raise TypeError(f"check class {cls.__name__}: the name must be an ID such as RP101")
        if register and cls.__name__ in _REGISTRY:
            raise TypeError(f"check {cls.__name__} is defined twice")
        if not (cls.__doc__ or "").strip():
            raise TypeError(f"check {cls.__name__} needs a docstring (the user-facing advice)")
        if cls.level not in (1, 2, 3, 4):
            raise TypeError(f"check {cls.__name__}: level must be 1-4")
        if register:
            _REGISTRY[cls.__name__] = cls

    @classmethod
    def id(cls) -> str:
        return cls.__name__

    @classmethod
    def title(cls) -> str:
        """The docstring's first line: what a passing project has."""
        return inspect.cleandoc(cls.__doc__ or "").splitlines()[0].strip()

    @classmethod
    def advice(cls) -> str:
        """The docstring after the title: why it matters and how to fix it (Markdown)."""
        lines = inspect.cleandoc(cls.__doc__ or "").splitlines()[1:]
        return "\n".join(lines).strip()

    @classmethod
    def url(cls) -> str:
        return f"{DOCS_URL}#{cls.id().lower()}"

    @classmethod
    def fixtures(cls) -> tuple[str, ...]:
        """The evidence `check()` asks for, by argument name."""
        return tuple(inspect.signature(cls.check).parameters)[1:]

    def check(self, *args: Any, **kwargs: Any) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError


def all_checks() -> dict[str, type[Check]]:
    """Every registered check by ID, in catalogue order (pillar, then ID)."""
    from mlops_handover.audit import checks  # noqa: F401 - importing registers them

    order = list(Pillar)
    return dict(sorted(_REGISTRY.items(), key=lambda item: (order.index(item[1].pillar), item[0])))


@dataclass
class CheckResult:
    """A check's result in one audit, with the check's metadata for the reports."""

    check: type[Check]
    result: Result
    waiver: str | None = None
    evidence_sources: tuple[str, ...] = field(default_factory=tuple)

    @property
    def outcome(self) -> Outcome:
        return Outcome.WAIVED if self.waiver is not None else self.result.outcome
