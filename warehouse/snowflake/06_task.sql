-- 06_task.sql — run 04_load.sql and 05_merge.sql every hour inside Snowflake.
--
-- The exporter runs at minute 5 of every hour; loading at minute 20 leaves it time to finish.
-- A task graph: the load at 20 past, then the merge (only when the stream holds new rows), then
-- the pruning. A task never overlaps its previous run, so two loads never race. Each task body is
-- exactly the statement of 04/05 (the tests in tests/it/warehouse/ compare them): change both
-- together.
-- Replace analytics_wh with the warehouse to bill. Creating tasks needs EXECUTE TASK on the
-- account for the owning role.
--
-- CREATE OR REPLACE, so that running this file again puts edited definitions in place. Snowflake
-- only lets a task graph change while its root task is suspended: the root is suspended first
-- (IF EXISTS: on a first deployment there is none yet), the tasks are created again, suspended,
-- each after its predecessor, and the dependants are resumed before the root at the end.

ALTER TASK IF EXISTS analytics.guardrail_followups_load SUSPEND;
-- With the pipe of 08_pipe.sql the merge task is a root of its own: suspended too.
ALTER TASK IF EXISTS analytics.guardrail_followups_merge SUSPEND;

CREATE OR REPLACE TASK analytics.guardrail_followups_load
    WAREHOUSE = analytics_wh
    SCHEDULE = 'USING CRON 20 * * * * UTC'
    COMMENT = 'Hourly: load new lake objects into analytics.guardrail_followups_staging (04_load.sql)'
AS
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

CREATE OR REPLACE TASK analytics.guardrail_followups_merge
    WAREHOUSE = analytics_wh
    COMMENT = 'After each load: merge the new staged rows into analytics.guardrail_followups (05_merge.sql)'
    AFTER analytics.guardrail_followups_load
    WHEN SYSTEM$STREAM_HAS_DATA('analytics.guardrail_followups_staging_new')
AS
MERGE INTO analytics.guardrail_followups AS t
USING (
    SELECT
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
    FROM analytics.guardrail_followups_staging_new
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY follow_up_id
        ORDER BY source_file_modified_at DESC NULLS LAST, source_file DESC
    ) = 1
) AS s
ON t.follow_up_id = s.follow_up_id
WHEN MATCHED AND s.deleted_at IS NOT NULL AND (
    t.source_file_modified_at IS NULL
    OR s.source_file_modified_at > t.source_file_modified_at
    OR (s.source_file_modified_at = t.source_file_modified_at AND s.source_file >= t.source_file)
) THEN DELETE
WHEN MATCHED AND s.deleted_at IS NULL AND (
    t.source_file_modified_at IS NULL
    OR s.source_file_modified_at > t.source_file_modified_at
    OR (s.source_file_modified_at = t.source_file_modified_at AND s.source_file >= t.source_file)
) THEN UPDATE SET
    -- generated from src/row/schema.rs: update
    t.provider_id = s.provider_id,
    t.provider_name = s.provider_name,
    t.action = s.action,
    t.notes = s.notes,
    t.platform_context_id = s.platform_context_id,
    t.platform_context_label = s.platform_context_label,
    t.platform_context_handle = s.platform_context_handle,
    t.platform_context_type = s.platform_context_type,
    t.conversion_cursor = s.conversion_cursor,
    t.conversion_href = s.conversion_href,
    t.created_at = s.created_at,
    -- end of generated lines
    t.source_file = s.source_file,
    t.loaded_at = s.loaded_at,
    t.source_file_modified_at = s.source_file_modified_at
WHEN NOT MATCHED AND s.deleted_at IS NULL THEN INSERT (
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
    source_file_modified_at
) VALUES (
    -- generated from src/row/schema.rs: values
    s.follow_up_id,
    s.provider_id,
    s.provider_name,
    s.action,
    s.notes,
    s.platform_context_id,
    s.platform_context_label,
    s.platform_context_handle,
    s.platform_context_type,
    s.conversion_cursor,
    s.conversion_href,
    s.created_at,
    -- end of generated lines
    s.source_file,
    s.loaded_at,
    s.source_file_modified_at
);

CREATE OR REPLACE TASK analytics.guardrail_followups_prune
    WAREHOUSE = analytics_wh
    COMMENT = 'After each merge: drop staged rows older than two weeks (05_merge.sql)'
    AFTER analytics.guardrail_followups_merge
AS
DELETE FROM analytics.guardrail_followups_staging
WHERE loaded_at < DATEADD('day', -14, CURRENT_TIMESTAMP());

-- Tasks are created suspended. Resume the dependants before the root task, or the root would
-- start a graph whose later steps do not run.
ALTER TASK analytics.guardrail_followups_prune RESUME;
ALTER TASK analytics.guardrail_followups_merge RESUME;
ALTER TASK analytics.guardrail_followups_load RESUME;
