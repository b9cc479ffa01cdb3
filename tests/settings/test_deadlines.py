"""The chat's deadline fits in the handler's, the handler's in its lease: derived from each other when unset,
refused at start when set so that a handler could cut a Coze chat short."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cozegate.settings import Settings
from cozegate.settings.model import CHAT_SHARE_OF_HANDLER

seconds = st.floats(min_value=0.5, max_value=3600, allow_nan=False)


def test_the_defaults_nest() -> None:
    s = Settings()
    assert (s.coze_chat_timeout_seconds, s.handler_timeout_seconds, s.lease_seconds) == (120.0, 150.0, 180.0)


@given(chat=st.none() | seconds, handler=st.none() | seconds)
def test_whatever_is_set_the_deadlines_nest_or_are_refused(chat: float | None, handler: float | None) -> None:
    given_values = {
        **({"coze_chat_timeout_seconds": chat} if chat is not None else {}),
        **({"handler_timeout_seconds": handler} if handler is not None else {}),
    }
    if chat is not None and handler is not None and chat > handler * CHAT_SHARE_OF_HANDLER + 1e-9:
        with pytest.raises(ValidationError, match="COZEGATE_COZE_CHAT_TIMEOUT_SECONDS"):
            Settings(**given_values)
        return
    s = Settings(**given_values)
    assert s.coze_chat_timeout_seconds <= s.handler_timeout_seconds * CHAT_SHARE_OF_HANDLER + 1e-6
    assert s.lease_seconds > s.handler_timeout_seconds
    if chat is not None:
        assert s.coze_chat_timeout_seconds == chat
    if handler is not None:
        assert s.handler_timeout_seconds == handler


def test_a_lease_alone_derives_a_handler_that_fits_in_it() -> None:
    s = Settings(lease_seconds=60)  # a configuration from before the chat timeout existed
    assert (s.handler_timeout_seconds, s.coze_chat_timeout_seconds) == (30.0, 24.0)
    assert Settings(lease_seconds=3).handler_timeout_seconds == 1.5


def test_a_handler_deadline_shorter_than_its_chat_is_refused_with_what_to_set() -> None:
    with pytest.raises(ValidationError, match="at least 75 s"):
        Settings(handler_timeout_seconds=30, coze_chat_timeout_seconds=60)
