"""Schemathesis against the example plugin's exported OpenAPI, over real HTTP: no server error, every
response matches the document (status, content type, schema)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.plugins.conftest import ORDERS_TOKEN as TOKEN
from tests.support.plugin_server import PluginServerProcess


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_example_plugin_conforms_to_its_openapi(orders_server: PluginServerProcess, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{orders_server.url}/plugins/orders/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert sorted(op.path for op in operations) == ["/plugins/orders/list_orders", "/plugins/orders/lookup_order"]
    statuses: set[int] = set()
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case: Any) -> None:
            response = case.call_and_validate(headers={"X-Api-Key": TOKEN})
            statuses.add(response.status_code)

        conforms()
    if mode is GenerationMode.POSITIVE:  # answered: the order, or a 200 error the bot reads (no such order)
        assert statuses == {200}
    else:  # refused: bad arguments (400) or a mangled token (401)
        assert 400 in statuses
        assert statuses <= {400, 401, 415}, statuses
