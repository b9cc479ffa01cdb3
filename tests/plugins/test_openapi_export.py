"""The exported OpenAPI is valid OpenAPI 3.0 and passes the checks Coze's importer applies."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal

import pytest
import yaml
from examples.orders_plugin import plugin as orders_plugin
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from cozegate.plugins import NO_AUTH, BearerToken, Plugin, ServiceToken
from cozegate.plugins.openapi import UnsupportedSchemaError, plugin_manifest, plugin_openapi
from tests.plugins import sample_plugins
from tests.plugins.coze_import_rules import coze_import_problems
from tests.support.server import REPO

SERVER = "https://plugins.example.com"


@pytest.mark.parametrize(
    "plugin", [orders_plugin, sample_plugins.plugin, sample_plugins.bearer, sample_plugins.query], ids=lambda p: p.name
)
def test_export_is_valid_openapi_and_importable_into_coze(plugin: Plugin) -> None:
    document = plugin_openapi(plugin, SERVER)
    validate(document)
    assert coze_import_problems(document) == []
    assert json.loads(json.dumps(document)) == document  # plain JSON, as Coze reads it


def test_the_oracle_notices_what_coze_rejects() -> None:
    document = plugin_openapi(orders_plugin, SERVER)
    broken = json.loads(json.dumps(document))
    broken["servers"].append({"url": "https://second.example.com"})
    operation = broken["paths"]["/plugins/orders/lookup_order"]["post"]
    operation["responses"]["404"] = {"description": "not found"}
    operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["x"] = {"$ref": "#/x"}
    problems = coze_import_problems(broken)
    assert len(problems) == 3, problems


def test_operations_carry_names_docs_and_examples() -> None:
    document = plugin_openapi(orders_plugin, SERVER)
    operation = document["paths"]["/plugins/orders/lookup_order"]["post"]
    assert operation["operationId"] == "lookup_order"
    assert operation["summary"] == "Find one order by its number."
    assert "where their order is" in operation["description"]
    assert "Time budget: 2.5 s" in operation["description"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["order_id"]
    assert body["properties"]["order_id"]["example"] == "A-1001"
    assert body["properties"]["order_id"]["description"].startswith("The order number")
    result = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert result["properties"]["status"]["enum"] == ["paid", "shipped", "delivered", "cancelled"]
    assert result["properties"]["expected_delivery"]["nullable"] is True
    assert result["properties"]["error"]["properties"]["message"]["type"] == "string"
    assert document["components"]["securitySchemes"]["serviceToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
    }


def test_security_schemes_follow_the_auth() -> None:
    assert plugin_openapi(sample_plugins.bearer, SERVER)["components"]["securitySchemes"]["serviceToken"] == {
        "type": "http",
        "scheme": "bearer",
    }
    query = plugin_openapi(sample_plugins.query, SERVER)["components"]["securitySchemes"]["serviceToken"]
    assert query == {"type": "apiKey", "in": "query", "name": "api_key"}
    assert "security" not in plugin_openapi(sample_plugins.fenced, SERVER)


def test_manifest_for_service_token_auth_holds_a_placeholder_not_the_secret() -> None:
    plugin = Plugin("m", description="d", auth=ServiceToken(tokens=["real-secret"], header="X-Key"))

    @plugin.tool
    def t() -> int:
        """T."""
        return 1

    manifest = plugin_manifest(plugin)
    assert manifest["schema_version"] == "v1"
    assert manifest["api"] == {"type": "openapi"}
    assert manifest["auth"]["type"] == "service_http"
    assert manifest["auth"]["sub_type"] == "token/api_key"
    payload = json.loads(manifest["auth"]["payload"])
    assert payload == {"location": "header", "key": "X-Key", "service_token": "<your service token>"}
    assert "real-secret" not in json.dumps(manifest)
    bearer = json.loads(plugin_manifest(sample_plugins.bearer)["auth"]["payload"])
    assert bearer["key"] == "Authorization"
    assert bearer["service_token"].startswith("Bearer ")
    assert plugin_manifest(sample_plugins.fenced)["auth"] == {"type": "none"}


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Inner(BaseModel):
    when: dt.datetime
    colour: Colour


class Outer(BaseModel):
    inner: Inner | None = None
    tags: list[str] = Field(default_factory=list, max_length=3)
    mode: Literal["fast", "slow"] = "fast"
    ratio: Annotated[float, Field(gt=0, lt=1)] = 0.5


def test_nested_optional_enum_literal_and_bounds_convert_to_openapi_30() -> None:
    plugin = Plugin("shapes", description="d", auth=NO_AUTH)

    @plugin.tool
    def shape(payload: Outer) -> Outer:
        """Echo a nested model."""
        return payload

    document = plugin_openapi(plugin, SERVER)
    validate(document)
    assert coze_import_problems(document) == []
    body = document["paths"]["/plugins/shapes/shape"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    inner = body["properties"]["inner"]
    assert inner["type"] == "object"
    assert inner["nullable"] is True
    assert inner["properties"]["colour"] == {"enum": ["red", "blue"], "title": "Colour", "type": "string"}
    assert body["properties"]["mode"]["enum"] == ["fast", "slow"]
    assert body["properties"]["ratio"]["exclusiveMinimum"] is True
    assert body["properties"]["ratio"]["minimum"] == 0


class Node(BaseModel):
    children: list[Node] = []


class Color(Enum):
    RED = "red"


def _union(value: int | str) -> int:
    """Union."""
    return 1


def _tree(node: Node) -> int:
    """Recursive."""
    return 1


def _enum_keys(scores: dict[Color, int]) -> int:
    """A map keyed by an enum (propertyNames)."""
    return 1


def _decimal(amount: Decimal) -> int:
    """Decimals are a number-or-string union in JSON Schema."""
    return 1


@pytest.mark.parametrize(
    ("function", "reason"),
    [(_union, "one JSON type"), (_tree, "itself"), (_enum_keys, "propertyNames"), (_decimal, "one JSON type")],
)
def test_types_coze_cannot_describe_are_refused_at_registration(function: Any, reason: str) -> None:
    plugin = Plugin("odd", description="d", auth=NO_AUTH)
    with pytest.raises(UnsupportedSchemaError, match=reason):
        plugin.tool(function)
    assert plugin.tools == {}


def test_server_url_needs_a_scheme() -> None:
    with pytest.raises(ValueError, match="scheme"):
        plugin_openapi(orders_plugin, "plugins.example.com")


def test_cli_prints_the_same_document_and_explains_bad_input() -> None:
    run = [sys.executable, "-m", "cozegate", "plugins", "openapi", "examples.orders_plugin:plugin"]
    done = subprocess.run([*run, "--server-url", SERVER], cwd=REPO, capture_output=True, text=True, check=True)
    assert yaml.safe_load(done.stdout) == plugin_openapi(orders_plugin, SERVER)
    as_json = subprocess.run([*run, "--format", "json"], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(as_json.stdout)["servers"] == [{"url": "http://127.0.0.1:9100"}]
    bad = subprocess.run([*run, "--server-url", "example.com"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "needs a scheme" in bad.stderr
    missing = [sys.executable, "-m", "cozegate", "plugins", "openapi", "examples.nope:plugin"]
    gone = subprocess.run(missing, cwd=REPO, capture_output=True, text=True)
    assert gone.returncode == 2
    assert "cannot load plugin" in gone.stderr
    manifest = [sys.executable, "-m", "cozegate", "plugins", "manifest", "examples.orders_plugin:plugin"]
    assert json.loads(subprocess.check_output(manifest, cwd=REPO, text=True))["name_for_model"] == "orders"


def test_bearer_auth_in_openapi_needs_no_token_to_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERS_PLUGIN_TOKEN", raising=False)
    plugin = Plugin("envtok", description="d", auth=BearerToken(env="UNSET_TOKEN_VARIABLE"))

    @plugin.tool
    def t() -> int:
        """T."""
        return 1

    assert plugin_openapi(plugin, SERVER)["components"]["securitySchemes"]["serviceToken"]["scheme"] == "bearer"
    with pytest.raises(RuntimeError, match="set UNSET_TOKEN_VARIABLE"):
        plugin.check_ready()
