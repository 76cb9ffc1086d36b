"""The regression gate: expected values, baseline comparison, significance."""
