"""Checks on the regenerated features before any model sees them (design note step 2)."""
from riskai.validation.rules import FeatureValidationError, validate_features

__all__ = ["FeatureValidationError", "validate_features"]
