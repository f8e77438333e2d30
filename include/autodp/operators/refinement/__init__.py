"""Refinement operators."""
