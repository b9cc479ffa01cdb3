"""cozegate: put Coze bots safely into production."""

from cozegate._quiet import silence_dependency_warnings

silence_dependency_warnings()

from cozegate.app import create_app  # noqa: E402
from cozegate.inbox import Event, EventHandlers  # noqa: E402
from cozegate.settings import Settings  # noqa: E402

__all__ = ["Event", "EventHandlers", "Settings", "create_app"]
__version__ = "0.1.0"
