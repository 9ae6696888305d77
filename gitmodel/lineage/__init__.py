"""Lineage: where each version of a model or data set came from, and what came from it."""
