-- 08_pipe.sql — optional: Snowpipe loads each object as it lands, instead of the hourly load task.
--
-- The alternative to the load task of 06_task.sql, for a lake too large to list every hour or for
-- fresher data. The pipe runs the COPY of 04_load.sql on every object S3 announces, into the same
-- staging table, so the stream, the MERGE and the pruning stay as they are; the merge task then
-- runs on its own schedule instead of after the load task. Run this file after 06_task.sql, and
-- again whenever 03_stage.sql or 06_task.sql ran again (a stage created again stops its pipes;
-- 06_task.sql puts the load task back in front of the merge).
--
-- A pipe accepts fewer COPY options than a COPY statement: no FORCE, and ON_ERROR only CONTINUE
-- or SKIP_FILE (its default), not ABORT_STATEMENT. SKIP_FILE here: an object with a bad line is
-- skipped whole and the others load. Nothing stops loudly any more, so watch for skipped objects:
-- query 4 of 07_checks.sql (copy_history, status LOAD_FAILED) and
-- SELECT SYSTEM$PIPE_STATUS('analytics.guardrail_followups_pipe'). Once fixed upstream, load a
-- skipped object with the COPY of 04_load.sql by hand.
--
-- After creating the pipe, point the bucket's event notifications (s3:ObjectCreated:* under the
-- stage's prefix) at the queue that SHOW PIPES lists as notification_channel. A pipe keeps its
-- own load history (14 days), apart from COPY's: objects the task loaded before are not loaded by
-- the pipe unless ALTER PIPE ... REFRESH sends them again, and any that are reach the staging
-- table a second time, which the MERGE absorbs (docs/data-lake.md).

ALTER TASK IF EXISTS analytics.guardrail_followups_load SUSPEND;

CREATE OR REPLACE PIPE analytics.guardrail_followups_pipe
    AUTO_INGEST = TRUE
    COMMENT = 'Loads each new lake object into analytics.guardrail_followups_staging (the COPY of 04_load.sql)'
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
ON_ERROR = 'SKIP_FILE';

-- The merge runs on the load task's schedule now, on its own; the pruning still follows it.
ALTER TASK analytics.guardrail_followups_merge SUSPEND;
ALTER TASK analytics.guardrail_followups_merge REMOVE AFTER analytics.guardrail_followups_load;
ALTER TASK analytics.guardrail_followups_merge SET SCHEDULE = 'USING CRON 20 * * * * UTC';
ALTER TASK analytics.guardrail_followups_prune RESUME;
ALTER TASK analytics.guardrail_followups_merge RESUME;
