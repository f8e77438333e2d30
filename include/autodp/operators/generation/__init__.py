"""Generation operators."""
