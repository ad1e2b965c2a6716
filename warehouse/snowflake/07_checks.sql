-- 07_checks.sql — read-only queries that show the load is complete and counts nothing twice.
-- Run them by hand or from a monitor; none of them changes anything. docs/data-lake.md explains
-- what each result should be.

-- 1. Duplicates in the analytics table: must return no rows.
SELECT follow_up_id, COUNT(*) AS copies
FROM analytics.guardrail_followups
GROUP BY follow_up_id
HAVING COUNT(*) > 1;

-- 2. How much re-delivery the MERGE absorbed in the last two weeks of staged rows:
--    redelivered_rows > 0 is normal after exporter or gateway restarts.
SELECT
    COUNT(*) AS staged_rows,
    COUNT(DISTINCT follow_up_id) AS distinct_follow_ups,
    COUNT(*) - COUNT(DISTINCT follow_up_id) AS redelivered_rows
FROM analytics.guardrail_followups_staging;

-- 3. Follow-ups in the lake that are not in the table: must return no rows once the tasks
--    have run after the newest object (reads every object: run it on a small warehouse, rarely).
SELECT $1:followUpId::STRING AS follow_up_id
FROM @analytics.guardrail_followups_stage (
    FILE_FORMAT => 'analytics.guardrail_followups_ndjson',
    PATTERN => '.*dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/[A-Za-z0-9_-]+[.]ndjson'
)
MINUS
SELECT follow_up_id
FROM analytics.guardrail_followups;

-- 4. What COPY loaded or refused in the last day, newest first.
SELECT file_name, status, row_count, first_error_message, last_load_time
FROM TABLE(information_schema.copy_history(
    table_name => 'ANALYTICS.GUARDRAIL_FOLLOWUPS_STAGING',
    start_time => DATEADD('hour', -24, CURRENT_TIMESTAMP())
))
ORDER BY last_load_time DESC;

-- 5. Freshness: the newest follow-up and the last load. The exporter runs hourly at minute 5
--    and the load task at minute 20, so last_load older than about 75 minutes means trouble.
SELECT MAX(created_at) AS newest_created_at_utc, MAX(loaded_at) AS last_load
FROM analytics.guardrail_followups;

-- 6. The last runs of the three tasks, with their errors.
SELECT name, state, scheduled_time, completed_time, error_message
FROM TABLE(information_schema.task_history(
    scheduled_time_range_start => DATEADD('day', -1, CURRENT_TIMESTAMP())
))
WHERE name LIKE 'GUARDRAIL_FOLLOWUPS_%'
ORDER BY scheduled_time DESC;
