-- 05_merge.sql — fold newly staged rows into analytics.guardrail_followups, once per follow-up.
--
-- The same follow-up can be staged more than once: a batch re-sent after a crash may have other
-- boundaries, so its rows land in a second object with another name; the late-row audit re-sends
-- a whole time bucket, with the current values of rows that changed in the source since. The
-- copies may differ, and the newest must win: the one from the object modified last
-- (source_file_modified_at, METADATA$FILE_LAST_MODIFIED), then the greatest source_file, so
-- that the choice never depends on the order of the rows. Two steps:
--   1. QUALIFY keeps the newest row per follow_up_id among the new rows (several in one MERGE
--      would make it nondeterministic, and Snowflake would refuse it);
--   2. MERGE ... ON follow_up_id updates a follow-up the table already has, but only with a copy
--      that is not older than the stored one, so a rebuild or a late load of an old object never
--      brings old values back; a follow-up the table lacks is inserted.
-- The rows are read from the stream, which this MERGE consumes when it commits.
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

-- Keep two weeks of staged rows for inspection. DELETE (unlike TRUNCATE) keeps COPY's load
-- metadata, so the pruned objects are not loaded again; the stream is append-only, so the MERGE
-- does not see these deletions.
DELETE FROM analytics.guardrail_followups_staging
WHERE loaded_at < DATEADD('day', -14, CURRENT_TIMESTAMP());
