"""Reading a tool's contract from its signature, and the mistakes it refuses at import time."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from cozegate.http.headers import RawHeaders
from cozegate.plugins import NO_AUTH, Plugin, ServiceToken, ToolContext
from cozegate.plugins.auth import CredentialsInvalidError, CredentialsMissingError, IpAllowList
from cozegate.plugins.tool_spec import spec_from_function


class Reply(BaseModel):
    text: str


def test_parameters_become_the_body_and_docstring_the_description() -> None:
    def greet(name: Annotated[str, Field(description="Who")], ctx: ToolContext, times: int = 2) -> Reply:
        """Greet someone.

        Longer explanation
        over two lines.
        """
        return Reply(text=name * times)

    spec = spec_from_function(greet)
    assert spec.summary == "Greet someone."
    assert spec.description == "Greet someone. Longer explanation over two lines."
    assert spec.context_parameter == "ctx"
    assert set(spec.arguments.model_fields) == {"name", "times"}
    assert spec.arguments.model_json_schema()["required"] == ["name"]
    assert not spec.is_async
    assert not spec.wraps_output


class Query(BaseModel):
    q: str


class Row(TypedDict):
    id: int


def test_a_single_model_parameter_is_the_whole_body() -> None:
    async def search(query: Query) -> Reply:
        """Search."""
        return Reply(text=query.q)

    spec = spec_from_function(search)
    assert spec.arguments is Query
    assert spec.body_parameter == "query"
    assert spec.is_async


def test_typed_dict_results_are_objects_and_primitives_are_wrapped() -> None:
    def row() -> Row:
        """Row."""
        return {"id": 1}

    def number() -> list[int]:
        """Numbers."""
        return [1]

    assert not spec_from_function(row).wraps_output
    wrapped = spec_from_function(number)
    assert wrapped.wraps_output
    assert wrapped.response_json([1, 2]) == b'{"result":[1,2]}'


def _no_return(x: int):  # type: ignore[no-untyped-def]
    """Doc."""


def _no_doc(x: int) -> int:
    return x


def _plain_dict(x: int) -> dict[str, Any]:
    """Doc."""
    return {}


class _HasError(BaseModel):
    error: str


def _reserved(x: int) -> _HasError:
    """Doc."""
    return _HasError(error="")


def _var_args(*values: int) -> int:
    """Doc."""
    return 0


def _untyped(x) -> int:  # type: ignore[no-untyped-def]
    """Doc."""
    return 0


def _returns_none(x: int) -> None:
    """Doc."""


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        (_no_return, "annotate the return type"),
        (_no_doc, "give it a docstring"),
        (_plain_dict, "plain dict would reach it as {}"),
        (_reserved, "reserved"),
        (_var_args, "plain named parameter"),
        (_untyped, "annotate parameter 'x'"),
        (_returns_none, "not None"),
    ],
)
def test_definition_mistakes_are_refused_with_what_to_change(function: Any, reason: str) -> None:
    with pytest.raises(TypeError, match=reason):
        spec_from_function(function)


def _optional_context(x: int, ctx: ToolContext | None = None) -> int:
    """Doc."""
    return x


def test_a_context_must_be_plain_so_no_caller_can_send_one() -> None:
    with pytest.raises(TypeError, match="plain `ToolContext`"):
        spec_from_function(_optional_context)


def _annotated_default(x: Annotated[int, Field(default=3, description="x")]) -> int:
    """Doc."""
    return x


def test_a_default_inside_annotated_makes_the_field_optional() -> None:
    spec = spec_from_function(_annotated_default)
    assert spec.arguments.model_validate({}).x == 3  # type: ignore[attr-defined]
    assert "required" not in spec.arguments.model_json_schema()


def test_query_tokens_compare_as_the_bytes_that_were_sent() -> None:
    auth = ServiceToken(tokens=["tök+1"], query="k")
    auth.verify(RawHeaders([]), b"a=b&k=t%C3%B6k%2B1")
    with pytest.raises(CredentialsInvalidError):
        auth.verify(RawHeaders([]), b"k=t%C3%B6k+1")  # "+" is a space in a query
    with pytest.raises(CredentialsMissingError):
        auth.verify(RawHeaders([]), b"kk=t%C3%B6k%2B1")


def test_ipv4_clients_of_a_dual_stack_listener_match_ipv4_networks() -> None:
    allow = IpAllowList(["10.0.0.0/8"])
    assert allow.allows("::ffff:10.1.2.3")
    assert not allow.allows("::ffff:11.1.2.3")
    assert not allow.allows("not an address")
    assert not allow.allows(None)


def test_names_follow_coze_tool_names() -> None:
    with pytest.raises(TypeError, match="at most 30"):
        spec_from_function(_no_doc, name="x" * 31, description="d")
    with pytest.raises(TypeError, match="letters, digits"):
        spec_from_function(_no_doc, name="has-dash", description="d")
    with pytest.raises(ValueError, match="at most 30"):
        Plugin("p" * 31, description="d", auth=NO_AUTH)


def test_a_tool_name_is_registered_once() -> None:
    plugin = Plugin("dup", description="d", auth=NO_AUTH)
    plugin.tool(name="same", description="one")(_no_doc)
    with pytest.raises(ValueError, match="already has a tool"):
        plugin.tool(name="same", description="two")(_no_doc)


def test_auth_is_a_required_choice() -> None:
    with pytest.raises(TypeError):
        Plugin("noauth", description="d")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="exactly one"):
        ServiceToken(tokens=["a"], env="B")


tokens = st.lists(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40), max_size=4)


@given(valid=tokens, presented=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40))
def test_a_token_is_accepted_exactly_when_it_is_one_of_the_valid_ones(valid: list[str], presented: str) -> None:
    auth = ServiceToken(tokens=[*valid, "always-valid"], header="X-Api-Key")
    headers = RawHeaders([(b"x-api-key", presented.encode())])
    if presented in valid or presented == "always-valid":
        auth.verify(headers, b"")
    else:
        with pytest.raises(CredentialsInvalidError):
            auth.verify(headers, b"")
    with pytest.raises(CredentialsMissingError):
        auth.verify(RawHeaders([]), b"")


@given(st.ip_addresses(v=4))
def test_ip_allow_list_matches_its_networks(address: Any) -> None:
    allow = IpAllowList(["10.0.0.0/8", "192.168.1.7"])
    expected = address.packed[0] == 10 or str(address) == "192.168.1.7"
    assert allow.allows(str(address)) is expected
