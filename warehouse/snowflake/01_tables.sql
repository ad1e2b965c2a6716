-- 01_tables.sql — the analytics table, its staging table and the stream between them.
--
-- Columns are documented in docs/data-lake.md; the tests in tests/it/warehouse/ keep the two in
-- step, column for column and in the same order. Every statement is idempotent: run the files
-- 01 → 06 in order, as often as you like. Tables and the stream are created only when missing,
-- so running this again never drops a loaded row; a column added by a later version comes with an
-- ALTER TABLE … ADD COLUMN IF NOT EXISTS below, which brings an existing deployment up to date.

CREATE SCHEMA IF NOT EXISTS analytics;

-- One row per follow-up, whatever how often its batch reached the lake. Snowflake does not enforce
-- the primary key: uniqueness comes from the MERGE in 05_merge.sql, which is keyed on it.
-- created_at is TIMESTAMP_NTZ holding UTC: the exporter writes UTC with a `Z`, so a wall-clock
-- column in UTC is exact and no session TIMEZONE setting can shift it.
CREATE TABLE IF NOT EXISTS analytics.guardrail_followups (
    -- generated from src/row/schema.rs: table
    follow_up_id            VARCHAR(36)      NOT NULL,
    provider_id             VARCHAR          NOT NULL,
    provider_name           VARCHAR,
    action                  VARCHAR          NOT NULL,
    notes                   VARCHAR,
    platform_context_id     VARCHAR,
    platform_context_label  VARCHAR,
    platform_context_handle VARCHAR,
    platform_context_type   VARCHAR,
    conversion_cursor       VARCHAR,
    conversion_href         VARCHAR,
    created_at              TIMESTAMP_NTZ(6) NOT NULL,
    -- end of generated lines
    source_file             VARCHAR          NOT NULL,
    loaded_at               TIMESTAMP_LTZ(6) NOT NULL,
    source_file_modified_at TIMESTAMP_NTZ(6),
    CONSTRAINT guardrail_followups_pk PRIMARY KEY (follow_up_id)
)
COMMENT = 'Guardrail follow-ups, one row per follow_up_id. Schema and load: docs/data-lake.md';

-- Every row of every loaded lake object, as loaded: the same follow-up may be here several times
-- (a batch re-sent with other boundaries lands in two objects). Transient, because it can always
-- be rebuilt from the lake (see "Rebuilding" in docs/data-lake.md).
CREATE TRANSIENT TABLE IF NOT EXISTS analytics.guardrail_followups_staging (
    -- generated from src/row/schema.rs: staging-table
    follow_up_id            VARCHAR(36)      NOT NULL,
    provider_id             VARCHAR,
    provider_name           VARCHAR,
    action                  VARCHAR,
    notes                   VARCHAR,
    platform_context_id     VARCHAR,
    platform_context_label  VARCHAR,
    platform_context_handle VARCHAR,
    platform_context_type   VARCHAR,
    conversion_cursor       VARCHAR,
    conversion_href         VARCHAR,
    created_at              TIMESTAMP_NTZ(6) NOT NULL,
    -- end of generated lines
    source_file             VARCHAR          NOT NULL,
    loaded_at               TIMESTAMP_LTZ(6) NOT NULL,
    source_file_modified_at TIMESTAMP_NTZ(6),
    deleted_at              TIMESTAMP_NTZ(6)
)
COMMENT = 'Raw COPY target for analytics.guardrail_followups; merged through the stream guardrail_followups_staging_new';

-- Deployments created before source_file_modified_at existed gain it here (null for the rows
-- loaded before: any later copy of those follow-ups wins over them in the MERGE).
ALTER TABLE analytics.guardrail_followups
    ADD COLUMN IF NOT EXISTS source_file_modified_at TIMESTAMP_NTZ(6);
ALTER TABLE analytics.guardrail_followups_staging
    ADD COLUMN IF NOT EXISTS source_file_modified_at TIMESTAMP_NTZ(6);

-- Deployments created before tombstones existed: a staged tombstone (a follow-up deleted from
-- the source) holds its follow_up_id, created_at and deleted_at, and null in every other column.
ALTER TABLE analytics.guardrail_followups_staging
    ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMP_NTZ(6);
-- generated from src/row/schema.rs: drop-not-null analytics.guardrail_followups_staging
ALTER TABLE analytics.guardrail_followups_staging ALTER COLUMN provider_id DROP NOT NULL;
ALTER TABLE analytics.guardrail_followups_staging ALTER COLUMN action DROP NOT NULL;
-- end of generated lines

-- Every nullable column of the feed, for deployments created before it existed (a column the
-- exporter gains later arrives this way; rows loaded before hold null in it).
-- generated from src/row/schema.rs: add-columns analytics.guardrail_followups
ALTER TABLE analytics.guardrail_followups ADD COLUMN IF NOT EXISTS provider_name VARCHAR;
ALTER TABLE analytics.guardrail_followups ADD COLUMN IF NOT EXISTS notes VARCHAR;
ALTER TABLE analytics.guardrail_followups ADD COLUMN IF NOT EXISTS platform_context_id VARCHAR;
ALTER TABLE analytics.guardrail_followups ADD COLUMN IF NOT EXISTS platform_context_label VARCHAR;
ALTER TABLE analytics.guardrail_followups ADD COLUMN IF NOT EXISTS platform_context_handle VARCHAR;
ALTER TABLE analytics.guardrail_followups ADD COLUMN IF NOT EXISTS platform_context_type VARCHAR;
ALTER TABLE analytics.guardrail_followups ADD COLUMN IF NOT EXISTS conversion_cursor VARCHAR;
ALTER TABLE analytics.guardrail_followups ADD COLUMN IF NOT EXISTS conversion_href VARCHAR;
-- end of generated lines
-- generated from src/row/schema.rs: add-columns analytics.guardrail_followups_staging
ALTER TABLE analytics.guardrail_followups_staging ADD COLUMN IF NOT EXISTS provider_name VARCHAR;
ALTER TABLE analytics.guardrail_followups_staging ADD COLUMN IF NOT EXISTS notes VARCHAR;
ALTER TABLE analytics.guardrail_followups_staging ADD COLUMN IF NOT EXISTS platform_context_id VARCHAR;
ALTER TABLE analytics.guardrail_followups_staging ADD COLUMN IF NOT EXISTS platform_context_label VARCHAR;
ALTER TABLE analytics.guardrail_followups_staging ADD COLUMN IF NOT EXISTS platform_context_handle VARCHAR;
ALTER TABLE analytics.guardrail_followups_staging ADD COLUMN IF NOT EXISTS platform_context_type VARCHAR;
ALTER TABLE analytics.guardrail_followups_staging ADD COLUMN IF NOT EXISTS conversion_cursor VARCHAR;
ALTER TABLE analytics.guardrail_followups_staging ADD COLUMN IF NOT EXISTS conversion_href VARCHAR;
-- end of generated lines

-- The rows COPY added since the last MERGE. A MERGE that reads the stream advances it when its
-- transaction commits, so each staged row is merged once, and rows a COPY commits while a MERGE
-- runs wait for the next one instead of being lost. Append-only: the pruning DELETE in
-- 05_merge.sql is not a change the MERGE has to see.
CREATE STREAM IF NOT EXISTS analytics.guardrail_followups_staging_new
    ON TABLE analytics.guardrail_followups_staging
    APPEND_ONLY = TRUE
    COMMENT = 'Staged rows not merged yet';
