"""The one way routes map a service's result to a response schema: `Schema.of(result)`."""

from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    """A response schema read from a result's attributes of the same names.

    A schema whose fields need more than a read (a nested object, a derived value)
    overrides `of`; routes call `Schema.of(result)` either way.
    """

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, result: Any) -> Self:
        return cls.model_validate(result)
