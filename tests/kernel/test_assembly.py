"""Start and stop order is data: features start in order and stop in reverse, background loops end before
any feature stops, a failed start stops what had started; the app's one route table holds the hot paths."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.routing import Mount, Route

from cozegate.app import create_app
from cozegate.kernel.assembly import Assembly
from cozegate.kernel.feature import BackgroundTask, Feature, Parts
from cozegate.settings import Settings


def recording(log: list[str], name: str, *, fail_start: bool = False, task: bool = False) -> Feature:
    async def start() -> None:
        log.append(f"start {name}")
        if fail_start:
            raise RuntimeError(f"{name} cannot start")

    async def stop() -> None:
        log.append(f"stop {name}")

    async def loop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # a loop that takes a moment to wind down is still awaited
            log.append(f"loop of {name} ended")

    tasks = [BackgroundTask(f"{name}-loop", loop)] if task else []
    return Feature(name, start=start, stop=stop, tasks=tasks)


async def test_features_start_in_order_and_stop_in_reverse_after_every_loop_ended() -> None:
    log: list[str] = []
    assembly = Assembly([recording(log, "storage"), recording(log, "knowledge", task=True), recording(log, "workers")])
    async with assembly.running():
        assert assembly.state.accepting
        assert log == ["start storage", "start knowledge", "start workers"]
        await asyncio.sleep(0.01)  # the loop runs
    assert not assembly.state.accepting
    assert log[3:] == ["loop of knowledge ended", "stop workers", "stop knowledge", "stop storage"]
    assert assembly.start_order == ["storage", "knowledge", "workers"]
    assert assembly.stop_order == ["workers", "knowledge", "storage"]


async def test_a_failed_start_stops_what_had_started_in_reverse() -> None:
    log: list[str] = []
    assembly = Assembly([recording(log, "storage"), recording(log, "plugins", fail_start=True), recording(log, "x")])
    with pytest.raises(RuntimeError, match="plugins cannot start"):
        async with assembly.running():
            pytest.fail("must not serve")
    assert log == ["start storage", "start plugins", "stop plugins", "stop storage"]


async def test_a_loop_is_interrupted_before_it_is_cancelled() -> None:
    stop = asyncio.Event()

    async def watch() -> None:
        await stop.wait()  # a file watcher's thread ends by itself once interrupted; cancellation comes after

    assembly = Assembly([Feature("tenants", tasks=[BackgroundTask("watch", watch, interrupt=stop.set)])])
    async with assembly.running():
        await asyncio.sleep(0)
    assert stop.is_set()


def test_two_features_of_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="named twice"):
        Assembly([Feature("a"), Feature("a")])


def test_parts_are_found_by_class_and_a_missing_one_names_the_order() -> None:
    parts = Parts()
    parts.provide(Settings())
    assert isinstance(parts.get(Settings), Settings)
    assert parts.find(Path) is None
    with pytest.raises(LookupError, match="FEATURES"):
        parts.get(Path)
    with pytest.raises(ValueError, match="twice"):
        parts.provide(Settings())


def test_the_app_has_one_route_table_with_the_hot_paths_first(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path, admin_token="t", handler_modules=[]))
    routes = app.routes
    hot = [r.path for r in routes if isinstance(r, Route)]
    assert hot == ["/plugins/{path:path}", "/webhooks/{tenant:path}", "/coze/webhook"]
    assert isinstance(routes[-1], Mount)  # the framework's routes, behind the request-id middleware
    inner = {getattr(r, "path", None) for r in routes[-1].routes}
    assert {"/v1/chat", "/admin/dead-letters", "/healthz", "/metrics", "/console"} <= inner


def test_the_app_stops_its_workers_first_and_its_storage_after_every_feature(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path, admin_token="t", handler_modules=[]))
    names = [feature.name for feature in app.assembly.features]
    stops = app.assembly.stop_order
    assert stops[0] == "workers"  # in-flight events finish while everything they use is still there
    assert stops[-1] == "process"  # traces and error reports flushed last
    assert stops.index("storage") > max(stops.index(name) for name in stops if name not in ("storage", "process"))
    assert names.index("knowledge") < names.index("workers")  # started before any event can need it
    assert app.assembly.start_order == [name for name in names if name in app.assembly.start_order]


async def test_hot_routes_are_matched_as_the_table_says() -> None:
    from starlette.responses import PlainTextResponse

    from cozegate.kernel.assembly import AssembledApp

    answered: list[tuple[str, dict[str, str]]] = []

    class Endpoint:
        def __init__(self, name: str) -> None:
            self.name = name

        async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
            answered.append((self.name, dict(scope.get("path_params", {}))))
            await PlainTextResponse(self.name)(scope, receive, send)

    async def framework(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("framework")

    feature = Feature(
        "hot",
        hot_routes=[Route("/webhooks/{tenant:path}", Endpoint("webhooks")), Route("/coze/webhook", Endpoint("seed"))],
        routes=[Route("/healthz", framework)],
    )
    app = AssembledApp(Assembly([feature]))
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.post("/coze/webhook")).text == "seed"
        assert (await client.post("/webhooks/acme")).text == "webhooks"
        assert (await client.post("/webhooks/a/b")).text == "webhooks"
        assert (await client.get("/healthz")).text == "framework"
        assert (await client.get("/coze/webhooks")).status_code == 404
    assert answered == [("seed", {}), ("webhooks", {"tenant": "acme"}), ("webhooks", {"tenant": "a/b"})]
