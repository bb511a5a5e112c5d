"""Use cases: plain functions that take primitives and a unit of work."""
