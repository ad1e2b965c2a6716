-- 04_load.sql — load new lake objects into the staging table, one column per field of the row.
--
-- COPY keeps load metadata per target table: an object it has loaded (same path, same content
-- checksum) is skipped on every later run for 64 days, so running this every hour only loads
-- what arrived since. A batch re-sent unchanged finds its object already there (the gateway
-- writes nothing) and is skipped too; anything that does reach staging twice is collapsed by the MERGE (05_merge.sql).
-- Never TRUNCATE the staging table: that also forgets the load metadata and reloads every object.
--
-- PATTERN keeps the load to the gateway's batch objects (whole-path match). ABORT_STATEMENT: a
-- malformed object stops the load loudly instead of being skipped; the gateway validates every
-- row, so this means something upstream is wrong (docs/data-lake.md, "When a load fails").
-- source_file_modified_at is the object's last modification time: the MERGE keeps the copy of a
-- follow-up from the object modified last (05_merge.sql).
-- createdAt is parsed with its exact format (`2026-01-22T04:00:00.000000Z`), so a value in any
-- other shape fails the load rather than being guessed at.
COPY INTO analytics.guardrail_followups_staging (
    -- generated from src/row/schema.rs: names
    follow_up_id,
    provider_id,
    provider_name,
    action,
    notes,
    platform_context_id,
    platform_context_label,
    platform_context_handle,
    platform_context_type,
    conversion_cursor,
    conversion_href,
    created_at,
    -- end of generated lines
    source_file,
    loaded_at,
    source_file_modified_at,
    deleted_at
)
FROM (
    SELECT
        -- generated from src/row/schema.rs: load
        $1:followUpId::STRING,
        $1:providerId::STRING,
        $1:providerName::STRING,
        $1:action::STRING,
        $1:notes::STRING,
        $1:platformContext:id::STRING,
        $1:platformContext:label::STRING,
        $1:platformContext:handle::STRING,
        $1:platformContext:platformType::STRING,
        $1:conversionCursor::STRING,
        $1:conversionHref::STRING,
        TO_TIMESTAMP_NTZ($1:createdAt::STRING, 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'),
        -- end of generated lines
        METADATA$FILENAME,
        METADATA$START_SCAN_TIME,
        METADATA$FILE_LAST_MODIFIED,
        TO_TIMESTAMP_NTZ($1:deletedAt::STRING, 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"')
    FROM @analytics.guardrail_followups_stage
)
PATTERN = '.*dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[A-Za-z0-9_-]+[.]ndjson'
FILE_FORMAT = (FORMAT_NAME = 'analytics.guardrail_followups_ndjson')
ON_ERROR = 'ABORT_STATEMENT';
