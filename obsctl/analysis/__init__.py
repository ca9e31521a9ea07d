"""Analyses over the store. They return Arrow tables and frozen dataclasses, never text:
the CLI, TUI and report layers only present what these functions return."""
