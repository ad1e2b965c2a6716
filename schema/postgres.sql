-- The table the application writes guardrail follow-ups to, as its migrations define it, and
-- the index the exporter reads it by. The exporter reads these columns only (attachments is
-- not exported); `guardrail-followups check` says whether the index exists.
CREATE TABLE provider_guardrail_followup (
    id                uuid          PRIMARY KEY,
    provider_id       varchar(128)  NOT NULL,
    provider_name     varchar(255)  NULL,
    action            varchar(64)   NOT NULL,
    notes             text          NULL,
    platform_context  json          NULL,
    attachments       json          NULL,
    conversion_cursor varchar(255)  NULL,
    conversion_href   text          NULL,
    created_at        timestamptz   NOT NULL DEFAULT now()
);

-- Optional, recommended on large tables: each run then reads in index order instead of
-- sorting. CONCURRENTLY builds it without blocking the application's writes.
-- CREATE INDEX CONCURRENTLY provider_guardrail_followup_created_at_id_idx
--     ON provider_guardrail_followup (created_at, id);
