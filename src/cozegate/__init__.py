"""cozegate: put Coze bots safely into production."""

from cozegate.app import create_app
from cozegate.inbox import Event, EventHandlers
from cozegate.settings import Settings

__all__ = ["Event", "EventHandlers", "Settings", "create_app"]
__version__ = "0.1.0"
