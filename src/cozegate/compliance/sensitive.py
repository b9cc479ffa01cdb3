"""``Annotated[str, Sensitive(...)]``: a pydantic field masked whenever the model is dumped for logs,
audit records or anything else that must not carry the raw value.

    class Customer(BaseModel):
        phone: Annotated[str, Sensitive(PiiKind.PHONE)]
        note: Annotated[str, Sensitive()]          # mask whatever personal data the text contains

    customer.model_dump(context=MASK_PII)          # {"phone": "138****5678", "note": "..."}
    customer.model_dump()                          # raw values, for the code that needs them
"""

from __future__ import annotations

from typing import Any

from pydantic import SerializationInfo, SerializerFunctionWrapHandler, WrapSerializer

from cozegate.compliance.pii import MaskMode, PiiKind, PiiMasker, PiiMatch

MASK_PII: dict[str, Any] = {"mask_pii": True}
"""Pass as ``context=`` to ``model_dump`` / ``model_dump_json`` to mask every ``Sensitive`` field."""


def Sensitive(kind: PiiKind | None = None, mode: MaskMode = MaskMode.PARTIAL) -> WrapSerializer:
    """Mask the field's whole value as ``kind`` (or, without a kind, every finding inside it)."""
    masker = PiiMasker(mode=mode)

    def serialize(value: Any, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        context = info.context
        if isinstance(value, str) and isinstance(context, dict) and context.get("mask_pii"):
            if kind is None:
                return masker.mask(value)
            return masker.replacement(PiiMatch(kind, 0, len(value), value))
        return handler(value)

    return WrapSerializer(serialize, when_used="always")
