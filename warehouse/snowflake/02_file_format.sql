-- 02_file_format.sql — how Snowflake reads the lake objects.
--
-- CREATE OR REPLACE: running this again puts an edited definition in place (the stage names the
-- format, so it reads the new one at once); nothing is loaded or dropped by it.
--
-- Each object is NDJSON: one JSON object per line, one line per follow-up. Snowflake's JSON
-- parser reads every top-level value of a file as one row, so NDJSON needs no option at all.
-- STRIP_OUTER_ARRAY (which the old runbook set) is only for a file holding a single JSON array
-- `[{...},{...}]`; there is no outer array here, so it stays FALSE.
-- COMPRESSION = AUTO: the gateway stores plain NDJSON (it unzips gzip request bodies), so this
-- only matters for objects someone compressed by hand, which the PATTERN of 04_load.sql skips.
-- STRIP_NULL_VALUES turns `"notes": null` into an absent key, so every null of the exported row
-- reads as SQL NULL in the COPY, never as a VARIANT null.
CREATE OR REPLACE FILE FORMAT analytics.guardrail_followups_ndjson
    TYPE = JSON
    COMPRESSION = AUTO
    STRIP_OUTER_ARRAY = FALSE
    STRIP_NULL_VALUES = TRUE
    IGNORE_UTF8_ERRORS = FALSE
    COMMENT = 'NDJSON objects written by guardrail-followups gateway';
