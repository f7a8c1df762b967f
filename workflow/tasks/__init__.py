"""Verifiable task families. Each module provides problem generation, prompt format and a checker."""
