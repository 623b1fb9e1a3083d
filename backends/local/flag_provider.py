"""An OpenFeature provider over flagd's own evaluator, fed only checked flag definitions.

``CheckedFlagdProvider`` answers the OpenFeature SDK with ``openfeature-flagd-core``'s
``FlagdCore`` (the evaluator inside flagd's Python provider: JsonLogic, ``fractional``,
``$ref``, flagd's hashing), but the definitions reach it only through ``load(doc)`` after
``backends.flagd.model`` checked them. Why not ``openfeature-provider-flagd`` in file mode:
it works offline and reloads a changed file within its poll, but it loads any file it can
parse (an unknown ``defaultVariant`` then fails every evaluation of that flag, and
percentages that do not sum to 100 are scaled silently), and it imports gRPC, which added
about a second to each demo instance's start on a loaded two-core machine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from openfeature.contrib.tools.flagd.core import FlagdCore
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.provider import AbstractProvider
from openfeature.provider.metadata import Metadata


class CheckedFlagdProvider(AbstractProvider):
    """flagd evaluation of the definitions last given to ``load`` (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.core = FlagdCore()

    def load(self, raw: Mapping[str, Any]) -> list[str]:
        """Replace the definitions (already checked); returns the flags that changed."""
        return list(self.core.set_flags_and_get_changed_keys(json.dumps(dict(raw))))

    def get_metadata(self) -> Metadata:
        return Metadata(name="flagd-file (checked)")

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self.core.resolve_boolean_value(flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self.core.resolve_string_value(flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self.core.resolve_integer_value(flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self.core.resolve_float_value(flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self.core.resolve_object_value(flag_key, default_value, evaluation_context)
