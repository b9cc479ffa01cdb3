"""Print the settings as the Markdown table of the README: ``python -m cozegate.settings.docs``."""

from __future__ import annotations

from cozegate.settings.model import Settings


def settings_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "unset" if default in (None, [], "") else f"`{default}`"
        lines.append(f"| `COZEGATE_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table())
