"""Maestro ML."""
