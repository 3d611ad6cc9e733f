"""``ClientSession`` with the tool output-schema validator built once per tool.

mcp 1.x validates a tool's structured result with ``jsonschema.validate`` on every
call, which checks the schema against its metaschema and builds a new validator
each time: about a sixth of the gateway's time under load (fixed upstream in
python-sdk #3134, not released for 1.x). This subclass keeps the same checks and
the same errors, but checks each schema once and reuses its validator for as long
as the session's schema cache holds the same schema object (a ``list_tools``
refresh replaces it, and the validator is rebuilt).
"""

from __future__ import annotations

import logging
from typing import Any

from jsonschema import SchemaError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from mcp import ClientSession
from mcp.types import CallToolResult
from referencing import Registry
from referencing.exceptions import Unresolvable

__all__ = ["CachedValidationSession"]

logger = logging.getLogger(__name__)


class CachedValidationSession(ClientSession):
    """A ``ClientSession`` whose output-schema validation builds one validator per tool schema."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # tool name -> (the schema object it was built from, its validator or the schema's error)
        self._validators: dict[str, tuple[object, Validator | SchemaError]] = {}

    async def _validate_tool_result(self, name: str, result: CallToolResult) -> None:
        schemas: dict[str, dict[str, Any] | None] | None = getattr(self, "_tool_output_schemas", None)
        if schemas is None:  # an SDK without the cache this relies on: keep its own behaviour
            await super()._validate_tool_result(name, result)
            return
        if name not in schemas:
            await self.list_tools()  # refresh the output-schema cache, as the SDK does
        if name not in schemas:
            logger.warning("Tool %s not listed by server, cannot validate any structured content", name)
            return
        schema = schemas[name]
        if schema is None:
            return
        if result.structuredContent is None:
            raise RuntimeError(f"Tool {name} has an output schema but did not return structured content")
        validator = self._validator(name, schema)
        if isinstance(validator, SchemaError):
            raise RuntimeError(f"Invalid schema for tool {name}: {validator}")
        try:
            error = best_match(validator.iter_errors(result.structuredContent))
        except Unresolvable as exc:
            raise RuntimeError(f"Invalid schema for tool {name}: {exc}") from exc
        if error is not None:
            raise RuntimeError(f"Invalid structured content returned by tool {name}: {error}")

    def _validator(self, name: str, schema: dict[str, Any]) -> Validator | SchemaError:
        cached = self._validators.get(name)
        if cached is not None and cached[0] is schema:
            return cached[1]
        cls = validator_for(schema)
        built: Validator | SchemaError
        try:
            cls.check_schema(schema)
            # An explicit empty registry, as the SDK uses: `$ref`s resolve within the schema document.
            built = cls(schema, registry=Registry())
        except SchemaError as exc:
            built = exc
        self._validators[name] = (schema, built)
        return built
