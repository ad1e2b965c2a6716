-- 03_stage.sql — the external stage over the gateway's lake.
--
-- The gateway, started with `--lake s3://<bucket>/<prefix>`, writes every webhook batch to
--   s3://<bucket>/<prefix>/guardrail_followups/dt=YYYY-MM-DD/<idempotency-key>.ndjson
-- Replace <bucket>/<prefix> with the values of its --lake, and guardrail_followups_s3 with the
-- storage integration that may read that bucket. An account administrator creates that
-- integration once (it needs the IAM role Snowflake assumes), for example:
--
--   CREATE STORAGE INTEGRATION guardrail_followups_s3
--       TYPE = EXTERNAL_STAGE
--       STORAGE_PROVIDER = 'S3'
--       ENABLED = TRUE
--       STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::<account-id>:role/<snowflake-read-role>'
--       STORAGE_ALLOWED_LOCATIONS = ('s3://<bucket>/<prefix>/guardrail_followups/');
--   GRANT USAGE ON INTEGRATION guardrail_followups_s3 TO ROLE <loader-role>;
--
-- then `DESC INTEGRATION guardrail_followups_s3` gives the IAM user and external id to trust.
--
-- CREATE OR REPLACE: running this again puts an edited URL or integration in place. COPY's load
-- metadata belongs to the staging table, not to the stage, so loaded objects stay loaded. A pipe
-- on the stage (08_pipe.sql) must be created again after it.
CREATE OR REPLACE STAGE analytics.guardrail_followups_stage
    URL = 's3://<bucket>/<prefix>/guardrail_followups/'
    STORAGE_INTEGRATION = guardrail_followups_s3
    FILE_FORMAT = (FORMAT_NAME = 'analytics.guardrail_followups_ndjson')
    COMMENT = 'Lake of guardrail-followups gateway: dt=YYYY-MM-DD/<idempotency-key>.ndjson';
