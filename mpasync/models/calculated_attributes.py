"""Models for calculated attributes (Platform API v2,
``/platform/v2/workspaces/{id}/calculatedattributes``): definitions, activation and
calculation status. v2 answers are bare objects and arrays, not v1 envelopes."""

from __future__ import annotations

from mpasync.models.base import Model

__all__ = [
    "ActivationStatus",
    "CalculatedAttribute",
    "CalculationStatus",
    "Condition",
    "Definition",
    "DefinitionDataPoint",
    "Seeding",
    "TimePeriod",
]


class Condition(Model, kw_only=True):
    """A condition a datapoint must meet to count towards the calculation.

    Which of ``value`` / ``values`` / ``min_value``+``max_value`` is set depends on the
    operator (see `mpasync.models.enums.OPERATOR_SUPPORT` and
    `mpasync.resources.calculated_attributes_checks`).
    """

    type: str | None = None
    operator: str | None = None
    attribute_name: str | None = None
    value: str | None = None
    values: list[str] | None = None
    min_value: str | None = None
    max_value: str | None = None


class TimePeriod(Model, kw_only=True):
    """The period a calculation covers: ``all``, ``since`` a date, or ``within`` N days/weeks."""

    type: str | None = None
    date: str | None = None
    within: int | None = None
    within_unit: str | None = None


class Seeding(Model, kw_only=True):
    """Seeding settings: only data after ``cutoff_date`` is used; earlier values are seeded."""

    cutoff_date: str | None = None


class DefinitionDataPoint(Model, kw_only=True):
    """The event, event attribute or user attribute a calculated attribute is computed from.

    ``conditions``, ``operator`` and ``time_period`` appear here only in the older shape
    of the "Get a Calculated Attribute" example; see `Definition`.
    """

    type: str | None = None
    event_name: str | None = None
    attribute_name: str | None = None
    event_type: str | None = None
    custom_event_type: str | None = None
    attribute_category: str | None = None
    use_product_quantity: bool | None = None
    conditions: list[Condition] | None = None
    operator: str | None = None
    time_period: TimePeriod | None = None


class Definition(Model, kw_only=True):
    """A calculated attribute's recipe (its active or draft definition).

    The reference contradicts itself: list/create/update use ``datapoint`` with conditions,
    calculation_type, time_period and seeding beside it (canonical here); the Get example
    uses ``data_point`` with conditions, "operator" and time_period inside it. Both decode;
    the ``effective_*`` properties read whichever shape was sent.
    """

    recipe_type: str | None = None
    datapoint: DefinitionDataPoint | None = None
    data_point: DefinitionDataPoint | None = None
    conditions: list[Condition] | None = None
    calculation_type: str | None = None
    time_period: TimePeriod | None = None
    seeding: Seeding | None = None

    @property
    def effective_datapoint(self) -> DefinitionDataPoint | None:
        """``datapoint``, or the older ``data_point`` when only that was sent."""
        return self.datapoint if self.datapoint is not None else self.data_point

    @property
    def effective_conditions(self) -> list[Condition] | None:
        """The definition's conditions, or the datapoint's in the older shape."""
        if self.conditions is not None:
            return self.conditions
        point = self.effective_datapoint
        return point.conditions if point is not None else None

    @property
    def effective_calculation_type(self) -> str | None:
        """``calculation_type``, or the datapoint's ``operator`` in the older shape."""
        if self.calculation_type is not None:
            return self.calculation_type
        point = self.effective_datapoint
        return point.operator if point is not None else None

    @property
    def effective_time_period(self) -> TimePeriod | None:
        """The definition's time period, or the datapoint's in the older shape."""
        if self.time_period is not None:
            return self.time_period
        point = self.effective_datapoint
        return point.time_period if point is not None else None


class CalculatedAttribute(Model, kw_only=True):
    """A calculated attribute: a per-user value mParticle computes from the event stream."""

    id: int
    name: str
    description: str | None = None
    active_definition: Definition | None = None
    draft_definition: Definition | None = None
    audience_count: int | None = None
    created_by: str | None = None
    created_on: str | None = None
    last_modified_by: str | None = None
    last_modified_on: str | None = None
    activated_by: str | None = None
    activated_on: str | None = None


class ActivationStatus(Model, kw_only=True):
    """Whether a calculated attribute is active, and when and by whom it was activated."""

    calculated_attribute_id: int | None = None
    is_active: bool | None = None
    activated_on: str | None = None
    activated_by: str | None = None


class CalculationStatus(Model, kw_only=True):
    """A calculated attribute's calculation progress and estimated completion time."""

    id: int | None = None
    name: str | None = None
    revision_id: int | None = None
    is_calculated: bool | None = None
    calculation_percent_complete: float | None = None
    estimated_completion_time: str | None = None
