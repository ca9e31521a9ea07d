"""Named, ordered schema migrations.

The store's schema is a public contract (``obsctl sql`` users query it; README lists the
columns). It only ever moves forward through the ordered ``MIGRATIONS`` list; each
migration's statements run in one transaction and its name is recorded in
``_obsctl_migrations``. A store that records a migration this build does not know was
written by a newer obsctl and is refused rather than misread.

Conventions of the schema (close to the OpenTelemetry data model):

* times are ``TIMESTAMP_NS`` in UTC (nanoseconds are kept: DuckDB's automatic JSON schema
  would drop them to microseconds), durations are ``BIGINT`` nanoseconds;
* trace and span ids are lowercase hex strings;
* attributes are ``JSON`` objects keeping their types (``attributes->>'$."http.route"'``);
* large free-text columns (log bodies, attributes, span events) use zstd compression:
  measured on 1M JSON-lines records, the store shrinks from 98 to 67 MB and ingest runs
  ~12% faster, while a body ``ILIKE`` scan or an attribute filter costs the same;
* every record row carries ``source_id`` (→ ``sources``) and, where the format has lines,
  the 1-based ``line`` it came from, so evidence can always be cited as file:line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

M001_INITIAL = """
CREATE SEQUENCE IF NOT EXISTS source_id_seq START 1;
CREATE TABLE sources (
    source_id      INTEGER PRIMARY KEY,
    path           VARCHAR NOT NULL,
    format         VARCHAR NOT NULL,
    signal         VARCHAR NOT NULL,
    content_hash   VARCHAR NOT NULL UNIQUE,
    fingerprint    VARCHAR NOT NULL,
    bytes          BIGINT NOT NULL,
    records        BIGINT NOT NULL DEFAULT 0,
    rejected       BIGINT NOT NULL DEFAULT 0,
    service_name   VARCHAR,
    ingested_at    TIMESTAMP NOT NULL
);
CREATE TABLE rejects (
    source_id      INTEGER NOT NULL,
    line           BIGINT,
    reason         VARCHAR NOT NULL,
    excerpt        VARCHAR
);
CREATE TABLE logs (
    timestamp           TIMESTAMP_NS,
    observed_timestamp  TIMESTAMP_NS,
    service_name        VARCHAR,
    severity_text       VARCHAR,
    severity_number     TINYINT,
    body                VARCHAR USING COMPRESSION zstd,
    trace_id            VARCHAR,
    span_id             VARCHAR,
    attributes          JSON USING COMPRESSION zstd,
    resource_attributes JSON,
    scope_name          VARCHAR,
    source_id           INTEGER NOT NULL,
    line                BIGINT
);
CREATE TABLE spans (
    trace_id            VARCHAR NOT NULL,
    span_id             VARCHAR NOT NULL,
    parent_span_id      VARCHAR,
    trace_state         VARCHAR,
    name                VARCHAR,
    kind                VARCHAR,
    start_time          TIMESTAMP_NS,
    end_time            TIMESTAMP_NS,
    duration_ns         BIGINT,
    status_code         VARCHAR,
    status_message      VARCHAR,
    service_name        VARCHAR,
    attributes          JSON USING COMPRESSION zstd,
    resource_attributes JSON,
    scope_name          VARCHAR,
    scope_version       VARCHAR,
    events              JSON USING COMPRESSION zstd,
    links               JSON,
    source_id           INTEGER NOT NULL,
    line                BIGINT
);
CREATE TABLE metric_points (
    metric_name             VARCHAR NOT NULL,
    metric_type             VARCHAR NOT NULL,
    unit                    VARCHAR,
    description             VARCHAR,
    service_name            VARCHAR,
    attributes              JSON,
    resource_attributes     JSON,
    scope_name              VARCHAR,
    timestamp               TIMESTAMP_NS,
    start_timestamp         TIMESTAMP_NS,
    value                   DOUBLE,
    is_monotonic            BOOLEAN,
    aggregation_temporality VARCHAR,
    count                   DOUBLE,
    sum                     DOUBLE,
    min                     DOUBLE,
    max                     DOUBLE,
    bucket_counts           DOUBLE[],
    explicit_bounds         DOUBLE[],
    exp_scale               INTEGER,
    exp_zero_count          DOUBLE,
    exp_positive_offset     INTEGER,
    exp_positive_counts     DOUBLE[],
    exp_negative_offset     INTEGER,
    exp_negative_counts     DOUBLE[],
    quantiles               STRUCT(quantile DOUBLE, value DOUBLE)[],
    flags                   INTEGER,
    source_id               INTEGER NOT NULL,
    line                    BIGINT
);
CREATE SEQUENCE IF NOT EXISTS profile_id_seq START 1;
CREATE TABLE profiles (
    profile_id          BIGINT PRIMARY KEY,
    service_name        VARCHAR,
    profile_type        VARCHAR,
    sample_types        STRUCT(type VARCHAR, unit VARCHAR)[],
    default_sample_type VARCHAR,
    period_type         VARCHAR,
    period_unit         VARCHAR,
    period              DOUBLE,
    time                TIMESTAMP_NS,
    duration_ns         BIGINT,
    attributes          JSON,
    source_id           INTEGER NOT NULL
);
CREATE TABLE profile_samples (
    profile_id  BIGINT NOT NULL,
    sample_type VARCHAR NOT NULL,
    unit        VARCHAR,
    value       DOUBLE NOT NULL,
    stack       STRUCT(function VARCHAR, file VARCHAR, line BIGINT)[],
    labels      JSON
);
"""


@dataclass(frozen=True)
class Migration:
    """One schema step: a unique, ordered name and the SQL that performs it."""

    name: str
    sql: str


MIGRATIONS: list[Migration] = [
    Migration("m001_initial", M001_INITIAL),
]


def apply(con: duckdb.DuckDBPyConnection, *, log: Callable[[str], None] | None = None) -> list[str]:
    """Apply the migrations a store lacks, each in its own transaction.

    Args:
        con: an open read-write ``duckdb.DuckDBPyConnection``.
        log: optional callback told the name of each migration applied.

    Returns:
        The names applied (empty when the store was current).

    Raises:
        StoreSchemaTooNew: the store records a migration this build does not know.
    """
    from obsctl.errors import StoreSchemaTooNew

    con.execute(
        "CREATE TABLE IF NOT EXISTS _obsctl_migrations"
        " (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
    )
    done = {r[0] for r in con.execute("SELECT name FROM _obsctl_migrations").fetchall()}
    known = {m.name for m in MIGRATIONS}
    unknown = sorted(done - known)
    if unknown:
        raise StoreSchemaTooNew(
            f"store was written by a newer obsctl (unknown migration {unknown[-1]}); upgrade obsctl"
        )
    applied = []
    for m in MIGRATIONS:
        if m.name in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(m.sql)
            con.execute("INSERT INTO _obsctl_migrations VALUES (?, now()::TIMESTAMP)", [m.name])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(m.name)
        if log:
            log(m.name)
    return applied


def pending(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of migrations not yet applied to a (possibly read-only) store."""
    try:
        done = {r[0] for r in con.execute("SELECT name FROM _obsctl_migrations").fetchall()}
    except Exception:
        done = set()
    return [m.name for m in MIGRATIONS if m.name not in done]
