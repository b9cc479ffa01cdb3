"""Find personal data and secrets in text, and mask them.

Kinds: e-mail addresses; phone numbers (Chinese mobile and landline, and international numbers
written with ``+``, recognised by Google's libphonenumber via ``phonenumbers``); Chinese resident ID
numbers (18 characters, valid birth date, ISO 7064 check digit); bank cards (13-19 digits of a known
card network prefix that pass the Luhn check); IPv4 and IPv6 addresses; API keys and tokens by their
published shapes (OpenAI/Coze/GitHub/AWS/Slack keys, JWTs, bearer tokens, ``key=value`` secrets).

Where two findings overlap the more specific wins (secret, e-mail, ID, card, IP, phone), so a
resident ID is never also reported as a phone number, nor an IPv4 address (which libphonenumber
would read as one). Digit runs that read as a date or timestamp
(order numbers like ``20261125000123``) are not cards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers


class PiiKind(StrEnum):
    SECRET = "secret"  # noqa: S105 - the name of a kind, not a password
    EMAIL = "email"
    CN_ID = "cn_id"
    BANK_CARD = "bank_card"
    PHONE = "phone"
    IP = "ip"


class MaskMode(StrEnum):
    PARTIAL = "partial"  # 138****5678, m***@example.com
    FULL = "full"  # [PHONE]
    HASH = "hash"  # [PHONE:3f2a9c1b], the same value always gives the same pseudonym


PRIORITY = (PiiKind.SECRET, PiiKind.EMAIL, PiiKind.CN_ID, PiiKind.BANK_CARD, PiiKind.IP, PiiKind.PHONE)


@dataclass(frozen=True)
class PiiMatch:
    kind: PiiKind
    start: int
    end: int
    text: str


# Boundaries are ASCII-only: in Chinese text a value follows a CJK character directly ("邮箱是mei@...").
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_CN_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3})([\dXx])(?![0-9A-Za-z])")
_CARD = re.compile(r"(?<![0-9A-Za-z-])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z-])")  # not inside SF1234... codes
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Za-z_:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z_:])")
# Every repetition is bounded and every pattern refuses to start inside a run of its own characters,
# so scanning stays linear on hostile input (a megabyte of "eyJ-eyJ-..." included).
_SECRETS = [
    re.compile(p)
    for p in (
        r"(?<![A-Za-z0-9_-])sk-(?:proj-)?[A-Za-z0-9_-]{20,512}",  # OpenAI-style keys
        r"(?<![A-Za-z0-9_])pat_[A-Za-z0-9]{20,512}",  # Coze personal access tokens
        r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{30,512}",  # GitHub tokens
        r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{30,512}",
        r"(?<![A-Za-z0-9_])AKIA[0-9A-Z]{16}(?![A-Za-z0-9])",  # AWS access key ids
        r"(?<![A-Za-z0-9_-])xox[abposr]-[A-Za-z0-9-]{10,512}",  # Slack
        r"(?<![A-Za-z0-9_])whsec_[A-Za-z0-9+/=]{16,512}",  # webhook secrets
        r"(?<![\w-])eyJ[\w-]{8,4096}\.eyJ[\w-]{8,4096}\.[\w-]{8,4096}",  # JWTs
    )
]
_SECRET_VALUE = re.compile(  # the value after a key word: password: x, "token": "x", 密码：x, Bearer x
    r"(?i)(?:(?<![A-Za-z0-9_])bearer\s+"
    r"|(?<![A-Za-z0-9_])(?:api[_-]?key|access[_-]?token|auth[_-]?token|token|secret|password|passwd|pwd)"
    r"[\"']?\s*[:=：]\s*[\"']?"
    r"|(?:密码|口令|密钥|令牌)\s*(?:是|为)?\s*[:=：]?\s*)"
    r"([!-~][^\s\"',，;；。]{5,255})"
)
_KEY_PREFIX = re.compile(r"^(?:sk-(?:proj-)?|pat_|gh[pousr]_|github_pat_|AKIA|xox[a-z]-|whsec_|eyJ)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_CARD_PREFIXES = re.compile(
    r"^(?:4|5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720|3[47]|35|3(?:0[0-5]|[68])|6011|65|62|81)"
)


def cn_id_valid(number: str) -> bool:
    """An 18-character Chinese resident ID number with a real birth date and a correct check digit."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not dt.date(1900, 1, 1) <= born <= dt.date.today():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _looks_like_a_date(digits: str) -> bool:
    """YYYYMMDD... : order numbers and timestamps that start with a date."""
    if len(digits) < 8:
        return False
    try:
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return False
    return 1970 <= int(digits[:4]) <= 2100


def card_valid(digits: str) -> bool:
    return (
        13 <= len(digits) <= 19
        and bool(_CARD_PREFIXES.match(digits))
        and len(set(digits)) > 1
        and not _looks_like_a_date(digits)
        and luhn_valid(digits)
    )


def _inside_a_code(text: str, start: int, end: int) -> bool:
    """Digits that continue a code (``SO-2026-080537``, ``INV2026...``) are part of it, not a phone number."""
    before, after = text[max(0, start - 2) : start], text[end : end + 2]
    glued_before = (before[-1:].isascii() and before[-1:].isalnum()) or (before[-1:] == "-" and before[:1].isalnum())
    glued_after = (after[:1].isascii() and after[:1].isalnum()) or (after[:1] == "-" and after[1:].isalnum())
    return bool(glued_before or glued_after)


class PiiDetector:
    def __init__(self, kinds: Iterable[PiiKind] = PRIORITY, region: str = "CN") -> None:
        self.kinds = tuple(k for k in PRIORITY if k in set(kinds))
        self.region = region

    def find(self, text: str) -> list[PiiMatch]:
        """Non-overlapping findings in text order."""
        accepted: list[PiiMatch] = []
        for kind in self.kinds:
            for match in self._candidates(kind, text):
                if not any(match.start < a.end and a.start < match.end for a in accepted):
                    accepted.append(match)
        return sorted(accepted, key=lambda m: m.start)

    def _candidates(self, kind: PiiKind, text: str) -> Iterable[PiiMatch]:
        if kind is PiiKind.SECRET:
            for pattern in _SECRETS:
                yield from (PiiMatch(kind, m.start(), m.end(), m.group()) for m in pattern.finditer(text))
            for m in _SECRET_VALUE.finditer(text):
                yield PiiMatch(kind, m.start(1), m.end(1), m.group(1))
        elif kind is PiiKind.EMAIL:
            yield from (PiiMatch(kind, m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text))
        elif kind is PiiKind.CN_ID:
            for m in _CN_ID.finditer(text):
                if cn_id_valid(m.group()):
                    yield PiiMatch(kind, m.start(), m.end(), m.group())
        elif kind is PiiKind.BANK_CARD:
            for m in _CARD.finditer(text):
                if card_valid(re.sub(r"[ -]", "", m.group())):
                    yield PiiMatch(kind, m.start(), m.end(), m.group())
        elif kind is PiiKind.PHONE:
            if not any(c.isdigit() for c in text):
                return
            for found in phonenumbers.PhoneNumberMatcher(text, self.region):
                if not _inside_a_code(text, found.start, found.end):
                    yield PiiMatch(kind, found.start, found.end, found.raw_string)
        elif kind is PiiKind.IP:
            for pattern in (_IPV4, _IPV6):
                for m in pattern.finditer(text):
                    if not any(ch.isalnum() for ch in m.group()):
                        continue  # "::" alone is punctuation in text, not an address
                    try:
                        ipaddress.ip_address(m.group())
                    except ValueError:
                        continue
                    yield PiiMatch(kind, m.start(), m.end(), m.group())


class PiiMasker:
    """``mask(text)``: the text with every finding replaced according to ``mode``.

    An instance is a ``Masker`` for ``configure_logging(mask=...)`` (it is callable on a string).
    """

    def __init__(
        self, detector: PiiDetector | None = None, mode: MaskMode = MaskMode.PARTIAL, salt: bytes = b""
    ) -> None:
        self.detector = detector or PiiDetector()
        self.mode = mode
        self._salt = salt

    def __call__(self, text: str) -> str:
        return self.mask(text)

    def mask(self, text: str) -> str:
        matches = self.detector.find(text)
        if not matches:
            return text
        out, last = [], 0
        for match in matches:
            out.append(text[last : match.start])
            out.append(self.replacement(match))
            last = match.end
        out.append(text[last:])
        return "".join(out)

    def replacement(self, match: PiiMatch) -> str:
        if self.mode is MaskMode.FULL:
            return f"[{match.kind.upper()}]"
        if self.mode is MaskMode.HASH:
            digest = hmac.new(self._salt, match.text.encode(), hashlib.sha256).hexdigest()[:8]
            return f"[{match.kind.upper()}:{digest}]"
        return partial_mask(match.kind, match.text)


def partial_mask(kind: PiiKind, value: str) -> str:
    if kind is PiiKind.EMAIL:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if kind is PiiKind.PHONE:
        return _mask_digits(value, keep_first=3, keep_last=4)
    if kind is PiiKind.CN_ID:
        return value[:6] + "*" * 8 + value[14:]  # region and the last four; the birth date is hidden
    if kind is PiiKind.BANK_CARD:
        return _mask_digits(value, keep_first=0, keep_last=4)
    if kind is PiiKind.IP:
        if "." in value:
            a, b, *_ = value.split(".")
            return f"{a}.{b}.*.*"
        return value.split(":", 1)[0] + ":****"
    prefix = _KEY_PREFIX.match(value)  # the public shape of a key, never a character of the secret
    return (prefix.group() if prefix else "") + "****"


def _mask_digits(value: str, *, keep_first: int, keep_last: int) -> str:
    """Mask digits only (separators stay), keeping the first and last few."""
    total = sum(c.isdigit() for c in value)
    out, seen = [], 0
    for char in value:
        if char.isdigit():
            hidden = keep_first <= seen < total - keep_last
            out.append("*" if hidden else char)
            seen += 1
        else:
            out.append(char)
    return "".join(out)
