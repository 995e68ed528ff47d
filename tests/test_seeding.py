"""SeedingClient against the local seeding routes: single and bulk seeds, validation before
sending, chunking under 100 users and 256 KB, retries and the error mapping."""

from __future__ import annotations

import base64
import copy
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aioresponses import aioresponses

from mpasync.errors import (
    BadRequestError,
    PermissionDeniedError,
    RequestValidationError,
)
from mpasync.models.seeding import (
    CalculatedAttributeSeed,
    CalculatedAttributeSeeds,
    Seed,
    SeedUser,
    UserAttribute,
    UserAttributeUpdates,
)
from mpasync.retry import RetryPolicy
from mpasync.seeding import MAX_REQUEST_BYTES, SeedingClient, validate_seed_user

if TYPE_CHECKING:
    from tests.other_apis_fixtures import OtherApis

pytest_plugins = ["tests.other_apis_fixtures"]

FAST_RETRY = RetryPolicy(backoff_base=0.01, backoff_max=0.05)


def user(mpid: int = 1, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "environment": "production",
        "mpid": mpid,
        "calculated_attributes": {
            "workspace": [
                {
                    "attribute_name": "LTV",
                    "calculation_type": "sum",
                    "cutoff_date": "2019-12-01",
                    "seed": {"value": 100.5},
                }
            ]
        },
    }
    body.update(extra)
    return body


def every_type() -> list[dict[str, Any]]:
    """One seed per calculation type, shaped as the reference's example."""

    def ca(name: str, ctype: str, seed: dict[str, Any]) -> dict[str, Any]:
        return {
            "attribute_name": name,
            "calculation_type": ctype,
            "cutoff_date": "2019-12-01",
            "seed": seed,
        }

    return [
        ca("Visits", "count", {"value": 12}),
        ca("LTV", "sum", {"value": 100.5}),
        ca("Min value", "minimum", {"value": 123}),
        ca("Max value", "max", {"value": "123"}),
        ca("Avg", "average", {"key_value_pairs": {"sum": 299.2, "count": 20}}),
        ca("First", "first_occurrence", {"value": "some value"}),
        ca("Last", "last_occurrence", {"value": "some value"}),
        ca("First time", "first_occurrence_timestamp", {"value": 1582589378000}),
        ca("Last time", "last_occurrence_timestamp", {"value": 1582589378000}),
        ca("Interests", "unique_list", {"list": ["travel", "pets"]}),
        ca("Views", "unique_values_count", {"list": ["cup", "microwave"]}),
        ca("Favorite", "most_frequent", {"key_value_pairs": {"ice cream": 10, "steak": 2}}),
    ]


# ---------------------------------------------------------------- single user


async def test_seed_model_user(seeding: SeedingClient, other_apis: OtherApis) -> None:
    model = SeedUser(
        environment="development",
        identities={"customer_id": "123xyz"},
        calculated_attributes=CalculatedAttributeSeeds(
            workspace=[
                CalculatedAttributeSeed(
                    attribute_name="Avg",
                    calculation_type="average",
                    cutoff_date="2019-12-01",
                    seed=Seed(key_value_pairs={"sum": 299.2, "count": 20}),
                )
            ]
        ),
        user_attributes=UserAttributeUpdates(
            workspace=[UserAttribute(attribute_name="User Tier", attribute_value="Free")]
        ),
    )
    await seeding.seed(model)
    [request] = other_apis.state.seed_requests
    assert not request.bulk
    [sent] = request.users
    assert sent == {
        "environment": "development",
        "identities": {"customer_id": "123xyz"},
        "calculated_attributes": {
            "workspace": [
                {
                    "attribute_name": "Avg",
                    "calculation_type": "average",
                    "cutoff_date": "2019-12-01",
                    "seed": {"key_value_pairs": {"sum": 299.2, "count": 20}},
                }
            ]
        },
        "user_attributes": {
            "workspace": [{"attribute_name": "User Tier", "attribute_value": "Free"}]
        },
    }


async def test_seed_dict_with_every_calculation_type(
    seeding: SeedingClient, other_apis: OtherApis
) -> None:
    body = user(7346244611012968789)
    body["calculated_attributes"]["workspace"] = every_type()
    await seeding.seed(body)
    sent = other_apis.state.seeded["mpid:7346244611012968789"]
    types = [ca["calculation_type"] for ca in sent["calculated_attributes"]["workspace"]]
    assert types[2:4] == ["min", "max"]  # the table's "minimum" is sent as "min"
    assert "identities" not in sent and "user_attributes" not in sent


def _set(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    target: Any = body
    *parents, last = dotted.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return body


_DELETE = object()
_CA = "calculated_attributes.workspace.0"
_F = "user.calculated_attributes.workspace[0]"


@pytest.mark.parametrize(
    ("dotted", "value", "field"),
    [
        ("environment", "staging", "user.environment"),
        ("mpid", _DELETE, "user.mpid"),
        ("mpid", "123", "user.mpid"),
        ("identities", {"email": ""}, "user.identities.email"),
        ("calculated_attributes", _DELETE, "user.calculated_attributes"),
        (f"{_CA}.attribute_name", " ", f"{_F}.attribute_name"),
        (f"{_CA}.calculation_type", "median", f"{_F}.calculation_type"),
        (f"{_CA}.cutoff_date", "2019/12/01", f"{_F}.cutoff_date"),
        (f"{_CA}.cutoff_date", "2019-02-30", f"{_F}.cutoff_date"),
        (f"{_CA}.seed", {"list": ["a"]}, f"{_F}.seed.list"),
        (f"{_CA}.seed", {}, f"{_F}.seed.value"),
        (f"{_CA}.seed", {"value": "lots"}, f"{_F}.seed.value"),
        (f"{_CA}.seed", {"value": 1, "list": ["a"]}, f"{_F}.seed.list"),
    ],
)
async def test_seed_validation_sends_nothing(
    seeding: SeedingClient, other_apis: OtherApis, dotted: str, value: Any, field: str
) -> None:
    body = user()
    if dotted == "mpid" and value is _DELETE:
        body.pop("identities", None)
    with pytest.raises(RequestValidationError) as info:
        await seeding.seed(_set(body, dotted, value))
    assert info.value.field == field
    assert other_apis.state.hits["seeding"] == 0


@pytest.mark.parametrize(
    ("ctype", "seed", "field"),
    [
        ("count", {"value": 1.5}, "seed.value"),
        ("count", {"value": -1}, "seed.value"),
        ("count", {"value": True}, "seed.value"),
        ("average", {"key_value_pairs": {"sum": 3}}, "seed.key_value_pairs.count"),
        ("average", {"key_value_pairs": {"count": 3}}, "seed.key_value_pairs.sum"),
        ("average", {"key_value_pairs": {"sum": 3, "count": 0}}, "seed.key_value_pairs.count"),
        ("average", {"key_value_pairs": {"sum": 3, "count": 2.5}}, "seed.key_value_pairs.count"),
        ("average", {"key_value_pairs": {"sum": 3, "count": 2, "n": 1}}, "seed.key_value_pairs.n"),
        ("average", {"value": 3}, "seed.value"),
        ("unique_list", {"value": "x"}, "seed.value"),
        ("unique_list", {"list": [1, 2]}, "seed.list[0]"),
        ("unique_values_count", {"key_value_pairs": {"a": 1}}, "seed.key_value_pairs"),
        ("first_occurrence_timestamp", {"value": 1582589378}, "seed.value"),
        ("last_occurrence_timestamp", {"value": "soon"}, "seed.value"),
        ("first_occurrence", {"value": ""}, "seed.value"),
        ("most_frequent", {"key_value_pairs": {"steak": -2}}, "seed.key_value_pairs.steak"),
        ("most_frequent", {"key_value_pairs": {}}, "seed.key_value_pairs"),
        ("most_frequent", {"list": ["a"]}, "seed.list"),
    ],
)
def test_seed_shape_per_calculation_type(ctype: str, seed: dict[str, Any], field: str) -> None:
    body = _set(user(), f"{_CA}.calculation_type", ctype)
    with pytest.raises(RequestValidationError) as info:
        validate_seed_user(_set(body, f"{_CA}.seed", seed))
    assert info.value.field == f"{_F}.{field}"


def test_user_attribute_needs_a_name() -> None:
    body = user(user_attributes={"workspace": [{"attribute_name": "", "attribute_value": "x"}]})
    with pytest.raises(RequestValidationError) as info:
        validate_seed_user(body)
    assert info.value.field == "user.user_attributes.workspace[0].attribute_name"


def test_not_a_user() -> None:
    with pytest.raises(RequestValidationError) as info:
        validate_seed_user([1, 2])  # type: ignore[arg-type]
    assert info.value.field == "user"


# ---------------------------------------------------------------- responses and retries


async def test_wrong_secret_is_403_with_errors(other_apis: OtherApis) -> None:
    async with SeedingClient(
        other_apis.state.workspace_key, "wrong", base_url=other_apis.seeding_url
    ) as client:
        with pytest.raises(PermissionDeniedError) as info:
            await client.seed(user())
    assert info.value.status == 403
    assert info.value.errors[0].code == "FORBIDDEN"
    assert other_apis.state.seed_requests == []


async def test_missing_auth_header_is_401(other_apis: OtherApis) -> None:
    async with aiohttp.ClientSession() as session:
        url = other_apis.seeding_url + "/v2/calculatedattributes"
        async with session.post(url, json=user()) as resp:
            assert resp.status == 401
            assert (await resp.json())["errors"][0]["code"] == "UNAUTHORIZED"


async def test_503_and_429_are_retried(seeding: SeedingClient, other_apis: OtherApis) -> None:
    other_apis.state.fail_next("seeding", 503, 429, 500, retry_after=0)
    await seeding.seed(user())
    assert other_apis.state.hits["seeding"] == 4
    assert len(other_apis.state.seed_requests) == 1
    assert seeding.transport.stats.retries == 3


async def test_400_body_errors_are_kept() -> None:
    body = {
        "errors": [
            {"code": "BAD_REQUEST", "message": "test sum: No matching calculated attribute"},
            {"code": "BAD_REQUEST", "message": "LTV: Seed value must be numeric"},
        ]
    }
    with aioresponses() as mocked:
        mocked.post("https://s2s.mparticle.com/v2/calculatedattributes", status=400, payload=body)
        async with SeedingClient("key", "secret", retry=FAST_RETRY) as client:
            with pytest.raises(BadRequestError) as info:
                await client.seed(user())
    assert info.value.messages == [e["message"] for e in body["errors"]]
    assert "secret" not in str(info.value)


async def test_basic_auth_header_and_no_secret_in_repr() -> None:
    with aioresponses() as mocked:
        mocked.post("https://s2s.mparticle.com/v2/calculatedattributes", status=202)
        async with SeedingClient("example-api-key", "example-api-secret") as client:
            await client.seed(user())
            assert "example-api-secret" not in repr(client)
            assert "example-api-key" in repr(client)
        [call] = next(iter(mocked.requests.values()))
    assert call.kwargs["headers"]["Authorization"] == (
        "Basic ZXhhbXBsZS1hcGkta2V5OmV4YW1wbGUtYXBpLXNlY3JldA=="  # the reference's example
    )


def test_client_needs_credentials() -> None:
    with pytest.raises(RequestValidationError):
        SeedingClient("key", "")


# ---------------------------------------------------------------- bulk


async def test_101_users_make_two_requests(seeding: SeedingClient, other_apis: OtherApis) -> None:
    report = await seeding.seed_bulk(user(i) for i in range(1, 102))
    assert report.ok and report.total == 2
    assert sorted(len(r.users) for r in other_apis.state.seed_requests) == [1, 100]
    assert all(r.bulk for r in other_apis.state.seed_requests)
    assert report.chunks[0].users == list(range(1, 101))
    assert report.chunks[1].positions == [100]
    assert report.users_sent == 101
    assert len(other_apis.state.seeded) == 101


async def test_large_users_split_under_256_kb(
    seeding: SeedingClient, other_apis: OtherApis
) -> None:
    big = {"workspace": [{"attribute_name": "Notes", "attribute_value": "x" * 30_000}]}
    report = await seeding.seed_bulk([user(i, user_attributes=big) for i in range(20)])
    assert report.ok
    sizes = [r.size for r in other_apis.state.seed_requests]
    assert len(sizes) == 3 and all(size <= MAX_REQUEST_BYTES for size in sizes)
    assert sorted(c.size for c in report.chunks.values()) == sorted(sizes)
    assert sum(len(r.users) for r in other_apis.state.seed_requests) == 20


async def test_invalid_and_oversized_users_fail_alone(
    seeding: SeedingClient, other_apis: OtherApis
) -> None:
    huge = {"workspace": [{"attribute_name": "Notes", "attribute_value": "x" * 300_000}]}

    async def users() -> AsyncIterator[dict[str, Any]]:
        for i in range(5):
            yield user(i)
        yield user(99, environment="staging")
        yield user(100, user_attributes=huge)
        for i in range(5, 10):
            yield user(i)

    report = await seeding.seed_bulk(users(), concurrency=1)
    # Chunk indexes follow the order chunks are sent: the rejects go first, alone.
    assert set(report.failed) == {0, 1}
    assert all(isinstance(e, RequestValidationError) for e in report.failed.values())
    assert report.failed[0].field == "users[5].environment"  # type: ignore[attr-defined]
    assert report.failed[1].field == "users[6]"  # type: ignore[attr-defined]
    assert report.failed_users() == [99, 100]
    assert [len(r.users) for r in other_apis.state.seed_requests] == [10]
    assert report.users_sent == 10


async def test_a_rejected_chunk_names_its_users(
    seeding: SeedingClient, other_apis: OtherApis
) -> None:
    other_apis.state.fail_next("seeding", 400)
    report = await seeding.seed_bulk((user(i) for i in range(150)), concurrency=1)
    assert not report.ok
    assert isinstance(report.failed[0], BadRequestError)
    assert report.failed_users() == list(range(100))
    assert report.succeeded == [1]
    assert report.summary().startswith("2 items: 1 succeeded, 1 failed")


async def test_seed_bulk_arguments(seeding: SeedingClient) -> None:
    with pytest.raises(RequestValidationError):
        await seeding.seed_bulk(user())  # type: ignore[arg-type]
    with pytest.raises(RequestValidationError):
        await seeding.seed_bulk([user()], max_users=101)


async def test_bulk_limits_enforced_by_the_emulator(other_apis: OtherApis) -> None:
    state = other_apis.state
    token = base64.b64encode(f"{state.workspace_key}:{state.workspace_secret}".encode()).decode()
    auth = {"Authorization": f"Basic {token}"}
    url = other_apis.seeding_url + "/v2/bulkcalculatedattributes"
    async with aiohttp.ClientSession(headers=auth) as session:
        async with session.post(url, json=[user(i) for i in range(101)]) as resp:
            assert resp.status == 400
        async with session.post(url, data=b"[{") as resp:
            assert resp.status == 400
        async with session.post(url, json=[user(1), user(2, environment="x")]) as resp:
            assert resp.status == 400
    assert other_apis.state.seeded == {}  # all or nothing
