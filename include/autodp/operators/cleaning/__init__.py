"""Cleaning operators."""
