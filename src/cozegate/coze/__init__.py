"""The one place that talks to Coze: ``CozeClient`` (on cozepy), chat turns, and the simulator."""

from cozegate.coze.dependency_warnings import silence_dependency_warnings

silence_dependency_warnings()  # before cozepy is imported

# ruff: noqa: E402
from cozegate.coze.auth import CozeCredentials
from cozegate.coze.chat_runner import (
    AnswerDelta,
    ChatAnswer,
    ChatFailedError,
    ChatProgress,
    ChatStarted,
    ToolRunner,
    run_chat,
    stream_chat,
)
from cozegate.coze.client import COZE_CN, COZE_COM, CozeClient
from cozegate.coze.errors import CozeCallError
from cozegate.coze.retry import CozeRetryPolicy

__all__ = [
    "COZE_CN",
    "COZE_COM",
    "AnswerDelta",
    "ChatAnswer",
    "ChatFailedError",
    "ChatProgress",
    "ChatStarted",
    "CozeCallError",
    "CozeClient",
    "CozeCredentials",
    "CozeRetryPolicy",
    "ToolRunner",
    "run_chat",
    "stream_chat",
]
