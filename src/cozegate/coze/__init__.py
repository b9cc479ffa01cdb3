"""The one place that talks to Coze: ``CozeClient`` (on cozepy), chat turns, and the simulator."""

from cozegate.coze.auth import CozeCredentials
from cozegate.coze.chat_runner import ChatAnswer, ChatFailedError, ToolRunner, run_chat
from cozegate.coze.client import COZE_CN, COZE_COM, CozeClient
from cozegate.coze.errors import CozeCallError
from cozegate.coze.retry import CozeRetryPolicy

__all__ = [
    "COZE_CN",
    "COZE_COM",
    "ChatAnswer",
    "ChatFailedError",
    "CozeCallError",
    "CozeClient",
    "CozeCredentials",
    "CozeRetryPolicy",
    "ToolRunner",
    "run_chat",
]
