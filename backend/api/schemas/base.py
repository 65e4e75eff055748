"""The one way routes map a service's result to a response schema: `Schema.of(result)`."""

from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    """A response schema read from a result's attributes of the same names.

    A schema with fields the result does not hold as attributes (a derived value, a
    field of a wrapping view) overrides `of` and reads with `_read(result, **extra)`;
    routes call `Schema.of(result)` either way.
    """

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, result: Any) -> Self:
        return cls._read(result)

    @classmethod
    def _read(cls, result: Any, **extra: Any) -> Self:
        """The schema from `result`'s attributes, and `extra` for the fields it lacks."""
        if not extra:
            return cls.model_validate(result)
        return cls.model_validate(
            {
                name: extra[name] if name in extra else getattr(result, name)
                for name in cls.model_fields
            }
        )
