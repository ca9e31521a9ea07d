"""obsctl: investigate production incidents from exported telemetry.

This module holds the version only, so that ``import obsctl`` costs nothing: the CLI's
``--help`` path must not pull in duckdb, pyarrow or textual (see tests/test_import_hygiene.py).
"""

__version__ = "0.1.0"
