"""Models of the Calculated Attributes Seeding API: one user with its calculated-attribute
seeds and user attributes, exactly as the API's JSON spells them.

The checks (identity required, seed shape per calculation type, cutoff date format) live
in `mpasync.seeding.validate_seed_user`; these are plain shapes.
"""

from __future__ import annotations

import builtins
from typing import Final

from mpasync.models.base import Model

__all__ = [
    "CalculatedAttributeSeed",
    "CalculatedAttributeSeeds",
    "Seed",
    "SeedCalculationType",
    "SeedEnvironment",
    "SeedUser",
    "UserAttribute",
    "UserAttributeUpdates",
    "UserKey",
]

#: How a seeded user is named in bulk reports: its mpid, else its identities.
UserKey = int | dict[str, str] | None

SeedValue = str | int | float | bool


class SeedEnvironment:
    """The ``environment`` of a seeded user."""

    PRODUCTION: Final = "production"
    DEVELOPMENT: Final = "development"
    ALL: Final[frozenset[str]] = frozenset({PRODUCTION, DEVELOPMENT})


class SeedCalculationType:
    """Calculation types a seed can be given for, and the seed field each one takes.

    The reference's table says ``minimum``/``maximum`` while its example (and the
    Platform API's definitions) say ``min``/``max``; both are accepted and sent as
    ``min``/``max``, the spelling a calculated attribute definition carries.
    """

    COUNT: Final = "count"
    SUM: Final = "sum"
    MIN: Final = "min"
    MAX: Final = "max"
    AVERAGE: Final = "average"
    FIRST_OCCURRENCE: Final = "first_occurrence"
    LAST_OCCURRENCE: Final = "last_occurrence"
    FIRST_OCCURRENCE_TIMESTAMP: Final = "first_occurrence_timestamp"
    LAST_OCCURRENCE_TIMESTAMP: Final = "last_occurrence_timestamp"
    UNIQUE_LIST: Final = "unique_list"
    UNIQUE_VALUES_COUNT: Final = "unique_values_count"
    MOST_FREQUENT: Final = "most_frequent"

    #: The seed field each calculation type uses: ``value``, ``key_value_pairs`` or ``list``.
    SEED_FIELD: Final[dict[str, str]] = {
        COUNT: "value",
        SUM: "value",
        MIN: "value",
        MAX: "value",
        AVERAGE: "key_value_pairs",
        FIRST_OCCURRENCE: "value",
        LAST_OCCURRENCE: "value",
        FIRST_OCCURRENCE_TIMESTAMP: "value",
        LAST_OCCURRENCE_TIMESTAMP: "value",
        UNIQUE_LIST: "list",
        UNIQUE_VALUES_COUNT: "list",
        MOST_FREQUENT: "key_value_pairs",
    }
    #: Spellings from the reference's table, mapped to the ones sent.
    ALIASES: Final[dict[str, str]] = {"minimum": MIN, "maximum": MAX}
    ALL: Final[frozenset[str]] = frozenset(SEED_FIELD)


class Seed(Model, kw_only=True):
    """A calculated attribute's seed: exactly one of ``value``, ``key_value_pairs``, ``list``.

    Which one depends on the calculation type (`SeedCalculationType.SEED_FIELD`):

    >>> Seed(value=100.5)                                      # sum
    >>> Seed(key_value_pairs={"sum": 299.2, "count": 20})      # average
    >>> Seed(list=["travel", "pets"])                          # unique_list
    >>> Seed(key_value_pairs={"ice cream": 10, "steak": 2})    # most_frequent
    """

    value: SeedValue | None = None
    key_value_pairs: dict[str, str | int | float] | None = None
    # `builtins.list`: the field is named like the builtin, as the API names it.
    list: builtins.list[str] | None = None


class CalculatedAttributeSeed(Model, kw_only=True):
    """One calculated attribute to seed. ``cutoff_date`` is ``yyyy-MM-dd``: events before
    it are ignored by the calculation, the seed stands in for them.

    The reference's field table spells it ``cuttoff_date``; every example (and this
    model) sends ``cutoff_date``.
    """

    attribute_name: str
    calculation_type: str
    cutoff_date: str
    seed: Seed


class CalculatedAttributeSeeds(Model, kw_only=True):
    """The ``calculated_attributes`` object: seeds under ``workspace``."""

    workspace: builtins.list[CalculatedAttributeSeed]


class UserAttribute(Model, kw_only=True):
    """One user attribute to create or update."""

    attribute_name: str
    attribute_value: SeedValue


class UserAttributeUpdates(Model, kw_only=True):
    """The ``user_attributes`` object: updates under ``workspace``."""

    workspace: builtins.list[UserAttribute]


class SeedUser(Model, kw_only=True):
    """One user's seeds and attribute updates (the body of ``/v2/calculatedattributes``).

    Either ``mpid`` or ``identities`` names the user; when ``mpid`` is set the server
    ignores ``identities``.

    >>> SeedUser(
    ...     environment="production",
    ...     mpid=7346244611012968789,
    ...     calculated_attributes=CalculatedAttributeSeeds(workspace=[
    ...         CalculatedAttributeSeed(attribute_name="LTV", calculation_type="sum",
    ...                                 cutoff_date="2019-12-01", seed=Seed(value=100.5)),
    ...     ]),
    ... )
    """

    environment: str
    calculated_attributes: CalculatedAttributeSeeds
    mpid: int | None = None
    identities: dict[str, str] | None = None
    user_attributes: UserAttributeUpdates | None = None

    @property
    def key(self) -> UserKey:
        """The user as bulk reports name it: the mpid, else the identities."""
        return self.mpid if self.mpid is not None else self.identities
