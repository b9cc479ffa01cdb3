"""A labelled corpus of chat lines (Chinese and English) with personal data where we put it, and lines
that must stay clean (order numbers, timestamps, amounts, tracking numbers, versions).

Values are generated, not collected: valid Chinese mobile and landline numbers, international numbers,
resident ID numbers with a correct check digit, Luhn-valid card numbers of real networks, addresses,
keys in their published shapes. The seed is fixed, so the corpus is the same on every run.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from cozegate.compliance.pii import PiiKind


@dataclass(frozen=True)
class Label:
    kind: PiiKind
    start: int
    end: int


@dataclass(frozen=True)
class Line:
    text: str
    labels: tuple[Label, ...]


TEMPLATES: dict[PiiKind, list[str]] = {
    PiiKind.EMAIL: [
        "Please send the invoice to {v} thanks",
        "my email is {v}",
        "你好，我的邮箱是{v}，请把发票发过来",
        "联系邮箱：{v}",
        "Can you reset the account {v}? I lost my password.",
        "请发到 {v} 谢谢！",
    ],
    PiiKind.PHONE: [
        "call me at {v} after 6pm",
        "我的手机号是{v}，快递到了请打电话",
        "电话：{v}",
        "You can reach our office on {v}.",
        "麻烦联系 {v} 改一下收货地址",
        "my number changed to {v}, please update it",
    ],
    PiiKind.CN_ID: [
        "身份证号{v}，请帮我实名认证",
        "实名信息：张伟 {v}",
        "ID card number {v} for the hotel booking",
        "我的身份证是 {v} 吗？",
    ],
    PiiKind.BANK_CARD: [
        "退款请打到这张卡 {v}",
        "银行卡号：{v}，开户行招商银行",
        "Refund to card {v} please",
        "my card {v} was charged twice",
    ],
    PiiKind.IP: [
        "the login came from {v} last night",
        "登录IP是{v}，不是我本人",
        "server {v} is not responding",
    ],
    PiiKind.SECRET: [
        "here is my key {v} can you check",
        "我把密钥 {v} 贴在这里了",
        "config: {v}",
    ],
}

NEGATIVE = [
    "订单号 {order} 什么时候发货？",
    "my order {order} has not arrived",
    "order A-{short} was cancelled",
    "SO-2026-{short:06d} shipped on 2026-11-25 10:30:00",
    "下单时间 {stamp}，订单 {order}",
    "timestamp {unix} in the log",
    "快递单号 SF{tracking}，请查一下",
    "YT{tracking} 物流三天没更新",
    "total ¥1,299.00 paid at 2026-11-24T08:15:00Z",
    "It costs $59.98 and ships in 3-5 days",
    "app version v2.14.3 crashed",
    "买了 3 件，规格 200g，一共 ¥128.50",
    "please call back at 9:30 tomorrow",
    "coupon code SAVE2026 gives 15% off",
    "room 1203, building 5, 88 Century Avenue",
    "invoice INV-{short:07d} dated 2026/11/20",
]

_CN_MOBILE_PREFIXES = ["130", "131", "132", "135", "136", "138", "139", "150", "151", "152", "157", "158",
                       "159", "176", "177", "180", "181", "182", "186", "187", "188", "189", "198", "199"]  # fmt: skip
_LANDLINES = ["010-6552 {b4}", "(021) 6234 {b4}", "0755-8601 {b4}", "020-8335 {b4}", "028-8545 {b4}"]
_INTERNATIONAL = ["+1 650-253-{b4}", "+44 20 7946 {b4}", "+49 30 9018 {b3}", "+81 3-3224-{b4}", "+65 6123 {b4}"]
_REGIONS = ["110105", "310104", "440305", "510107", "330106", "420102", "320102"]
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_DOMAINS = ["example.com", "qq.com", "163.com", "gmail.com", "shop.com.cn", "corp.example.org"]
_NAMES = ["mei", "wang.lei", "omar_h", "li-na", "j.smith", "zhangwei88", "anna+shop"]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    for check in string.digits:
        candidate = body + check
        total = sum(
            (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d for i, d in enumerate(map(int, reversed(candidate)))
        )
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def _value(kind: PiiKind, rng: random.Random) -> str:
    if kind is PiiKind.EMAIL:
        return f"{rng.choice(_NAMES)}{rng.randint(1, 99)}@{rng.choice(_DOMAINS)}"
    if kind is PiiKind.PHONE:
        style = rng.randrange(4)
        if style == 0:
            mobile = rng.choice(_CN_MOBILE_PREFIXES) + _digits(rng, 8)
            return rng.choice([mobile, f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"+86 {mobile}"])
        if style == 1:
            mobile = rng.choice(_CN_MOBILE_PREFIXES) + _digits(rng, 8)
            return f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
        template = rng.choice(_LANDLINES if style == 2 else _INTERNATIONAL)
        return template.format(a4=_digits(rng, 4), b4=_digits(rng, 4), b3=_digits(rng, 3))
    if kind is PiiKind.CN_ID:
        born = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body = rng.choice(_REGIONS) + born + _digits(rng, 3)
        check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
        return body + check
    if kind is PiiKind.BANK_CARD:
        prefix, length = rng.choice([("622202", 19), ("621700", 19), ("622848", 16), ("4", 16), ("53", 16)])
        number = _luhn_complete(rng, prefix, length)
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4)) if rng.random() < 0.4 else number
    if kind is PiiKind.IP:
        if rng.random() < 0.7:
            return ".".join(str(rng.randint(1, 254)) for _ in range(4))
        return f"2001:db8:{rng.randint(1, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))
    return rng.choice(
        [f"sk-{token}", f"pat_{token}", f"ghp_{token}", f"AKIA{token.upper()[:16]}", f"password={token[:12]}"]
    )


def build(seed: int = 20261125, per_kind: int = 120, negatives: int = 400) -> list[Line]:
    rng = random.Random(seed)
    lines: list[Line] = []
    for kind, templates in TEMPLATES.items():
        for _ in range(per_kind):
            template = rng.choice(templates)
            value = _value(kind, rng)
            start = template.index("{v}")
            text = template.replace("{v}", value)
            span_start, span_end = start, start + len(value)
            if kind is PiiKind.SECRET and value.startswith("password="):
                span_start += len("password=")
            lines.append(Line(text, (Label(kind, span_start, span_end),)))
    for _ in range(negatives):
        template = rng.choice(NEGATIVE)
        text = template.format(
            order=f"2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{_digits(rng, 6)}",
            short=rng.randint(1000, 999999),
            stamp=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(10, 23)}:{rng.randint(10, 59)}",
            unix=rng.randint(1_600_000_000, 1_800_000_000),
            tracking=_digits(rng, 13),
        )
        lines.append(Line(text, ()))
    return lines
