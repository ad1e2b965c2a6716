#!/usr/bin/env bash
# Export benchmark: guardrail-followups against psql, on the same rows, in one run.
#
# Builds the release binary, creates a database `guardrail_bench` holding the application's table
# `provider_guardrail_followup` (no index on created_at, as in production) filled with N realistic
# rows, and then measures:
#   - psql COPY json: psql writing the same rows as JSON lines, ordered by (created_at, id), the
#     server building each object with json_build_object — the plain-SQL way to dump the feed;
#   - guardrail-followups file: `export --sink file` of everything, from no cursor;
#   - the exporter's peak resident memory for the full export and for `--limit 100000`, to show
#     that memory does not grow with the number of rows;
#   - webhook via gateway: `export --sink webhook` into the project's gateway on loopback, which
#     lands every batch durably (fsynced) in a local lake folder, at --webhook-concurrency 1 and
#     at the default, and into an S3 lake (moto) at the default; with the gateway's CPU time per
#     100,000 rows;
#   - a run that finds nothing new (one read of the table), and the same with the audit off;
#   - reconcile: the table against its full local lake (the one the webhook run at concurrency
#     1 wrote) by content, which must find no differing day, with its time against the file
#     export's and its peak memory against the export's; and against a lake of
#     eight 100 MB objects holding every row, to show memory does not grow with object size.
# Each full export runs twice, alternating with psql (the first round warms the caches); the best
# time of each is reported. Both outputs must hold N lines, in the same (created_at, id) order.
#
# Usage: scripts/bench.sh [N]          N rows, default 1000000
#
# Without TEST_S3_ENDPOINT, a throwaway moto S3 server is started by scripts/with-s3.sh, for the
# S3 lake. Without TEST_DATABASE_URL, a throwaway PostgreSQL is started by scripts/with-postgres.sh. With
# it, that server is used: the database guardrail_bench is created there (dropped first if it
# exists) and dropped at the end. Peak memory is measured with python3, so /usr/bin/time is not
# needed.
# BENCH_BATCH_SIZE sets the exporter's --batch-size (default 1000).
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ -z "${TEST_DATABASE_URL:-}" ]]; then
  exec scripts/with-postgres.sh "$0" "$@"
fi
if [[ -z "${TEST_S3_ENDPOINT:-}" ]]; then
  exec scripts/with-s3.sh "$0" "$@"
fi

ROWS=${1:-1000000}
if ! [[ "$ROWS" =~ ^[1-9][0-9]*$ ]]; then
  echo "bench: N must be a positive number of rows, not '$ROWS'" >&2
  exit 2
fi
LIMIT_ROWS=100000
# The exporter's --webhook-concurrency default, from its own help.
DEFAULT_CONCURRENCY=4
BATCH_SIZE=${BENCH_BATCH_SIZE:-1000}
BENCH_DB=guardrail_bench
PSQL=psql
[[ -n "${PG_BIN:-}" && -x "$PG_BIN/psql" ]] && PSQL="$PG_BIN/psql"

# The same server, another database: swap the path of the URL, keep credentials and options.
BENCH_URL=$(python3 - "$TEST_DATABASE_URL" "$BENCH_DB" <<'EOF'
import sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(url._replace(path="/" + sys.argv[2])))
EOF
)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/guardrail-bench.XXXXXX")
cleanup() {
  "$PSQL" -X -q -d "$TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

step() { echo "bench: $*" >&2; }

# The exporter reads its settings from GUARDRAIL_EXPORT_* too: measure the flags given here only.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^GUARDRAIL_EXPORT_' || true)

step "building the release binary"
cargo build --release --quiet
BIN=target/release/guardrail-followups

step "creating $BENCH_DB with $ROWS rows"
PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$TEST_DATABASE_URL" \
  -c "DROP DATABASE IF EXISTS $BENCH_DB" -c "CREATE DATABASE $BENCH_DB"

# The table as the application's migrations create it (schema/postgres.sql, the one copy of its
# DDL; the index in it stays commented out, as on an unprepared production table), then one
# INSERT ... SELECT over generate_series. Per row, random draws r1..r8 pick:
#   provider     ~50 providers; the name is fixed per provider, 5% null, some non-ASCII;
#   action       45% pause, 35% resume, 18% escalate, 2% other spellings ('Pause ', 'ESCALATE',
#                'review') that the exporter normalises or warns about;
#   notes        10% null, else 40-200 characters cut from phrases with quotes and non-ASCII text;
#   context      40% canonical {"id","label","handle","platformType"}, 15% snake_case/alias keys,
#                5% canonical with blank fields, 8% {}, 7% a JSON string, 2% [] or JSON null,
#                23% SQL NULL;
#   cursor/href  30% null each;
#   created_at   spread over the last 60 days; 30% of rows fall on a grid of N/50 instants, ~50
#                rows on each, sharing one timestamp exactly (as rows of one transaction do).
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$BENCH_URL" -f schema/postgres.sql
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$BENCH_URL" -v rows="$ROWS" <<'SQL'
INSERT INTO provider_guardrail_followup
  (id, provider_id, provider_name, action, notes, platform_context, attachments,
   conversion_cursor, conversion_href, created_at)
SELECT
  gen_random_uuid(),
  'prov_' || lpad(p::text, 3, '0'),
  CASE WHEN r2 < 0.05 THEN NULL
       ELSE (ARRAY['Northwind', 'Acme', 'Müller', 'Bluebird', 'Ōsaka', 'Globex', 'Søndergaard',
                   'Initech', 'Café Rápido', 'Umbrella'])[1 + p % 10]
            || ' ' || (ARRAY['Logistics', 'Fulfilment', 'Versand', 'Freight', 'Couriers'])[1 + p % 5]
            || ' #' || p END,
  CASE WHEN r3 < 0.45 THEN 'pause'
       WHEN r3 < 0.80 THEN 'resume'
       WHEN r3 < 0.98 THEN 'escalate'
       ELSE (ARRAY['Pause ', 'ESCALATE', 'review'])[1 + g % 3] END,
  CASE WHEN r4 < 0.10 THEN NULL
       ELSE left(repeat((ARRAY[
              'Late deliveries on 3 orders; provider says "carrier strike" until Friday. ',
              'Livraison retardée — client prévenu, remboursement partiel ✅ ',
              'Lieferung verspätet, Fahrer krank; Rückruf am Montag geplant. ',
              '配送遅延のため一時停止。担当者に確認済み。 ',
              'Resumed after SLA review: on-time rate back above 97% for 14 days. ',
              'Escalated to vendor management (ticket OPS-4411), C:\shared\sla.xlsx attached. '
            ])[1 + g % 6], 4), 40 + floor(r4 * 1000)::int % 161) END,
  CASE WHEN r5 < 0.40 THEN json_build_object(
         'id', 'plt_' || (g % 997), 'label', (ARRAY['Instagram', 'TikTok', 'Shopify', 'Etsy'])[1 + g % 4],
         'handle', '@shop' || (g % 5000), 'platformType', (ARRAY['instagram', 'tiktok', 'shopify', 'etsy'])[1 + g % 4])
       WHEN r5 < 0.55 THEN json_build_object(
         'platform_id', 'plt_' || (g % 997), 'name', (ARRAY['Instagram', 'TikTok', 'Shopify', 'Etsy'])[1 + g % 4],
         'username', 'shop_' || (g % 5000), 'platform_type', (ARRAY['instagram', 'tiktok', 'shopify', 'etsy'])[1 + g % 4],
         'followers', g % 100000)
       WHEN r5 < 0.60 THEN json_build_object('id', ' plt_' || (g % 997) || ' ', 'label', '', 'handle', '   ',
         'platformType', 'instagram')
       WHEN r5 < 0.68 THEN '{}'::json
       WHEN r5 < 0.75 THEN to_json((ARRAY['instagram', 'tiktok', 'shopify'])[1 + g % 3])
       WHEN r5 < 0.77 THEN (ARRAY['[]', 'null'])[1 + g % 2]::json
       ELSE NULL END,
  CASE WHEN r6 < 0.80 THEN NULL
       ELSE json_build_array(json_build_object('name', 'evidence-' || g || '.pdf', 'size', g % 90000)) END,
  CASE WHEN r7 < 0.30 THEN NULL ELSE 'conv_' || substr(md5(g::text), 1, 16) END,
  CASE WHEN r8 < 0.30 THEN NULL ELSE 'https://app.example.com/conversions/' || substr(md5(g::text), 1, 16) END,
  CASE WHEN g % 10 < 3
       THEN now() - interval '60 days' + interval '60 days' * ((g % grid) / grid::float8)
       ELSE now() - interval '60 days' * r1 - interval '1 second' END
FROM (
  SELECT g, greatest(:rows / 50, 1) AS grid, 1 + floor(random() * 50)::int AS p,
         random() AS r1, random() AS r2, random() AS r3, random() AS r4,
         random() AS r5, random() AS r6, random() AS r7, random() AS r8
  FROM generate_series(1, :rows) AS g
) AS draws;

VACUUM ANALYZE provider_guardrail_followup;
SQL

# Runs a command with its stderr in $TMP/last.log (and its stdout in $MEASURE_STDOUT when set);
# prints "<wall seconds> <peak RSS in KiB>" of that one process, or shows the log and fails.
# os.wait4 reports the resources of exactly the child it waited for.
measure() {
  python3 - "$TMP/last.log" "$@" <<'EOF'
import os, subprocess, sys, time
log, cmd = sys.argv[1], sys.argv[2:]
out = os.environ.get("MEASURE_STDOUT")
with open(log, "wb") as err, open(out or os.devnull, "wb") as stdout:
    start = time.monotonic()
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=err,
                             stdout=stdout if out else None)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
code = os.waitstatus_to_exitcode(status)
if code != 0:
    sys.stderr.write(open(log, errors="replace").read())
    sys.exit(f"bench: FAIL {cmd[0]} exited with status {code}")
print(f"{wall:.3f} {usage.ru_maxrss}")
EOF
}

run_ours() {  # run_ours OUTPUT [EXTRA FLAGS...]; no cursor store unless the flags give one
  local out=$1; shift
  rm -f "$out"
  local store=(--cursor-store none)
  [[ " $* " == *" --cursor-store "* ]] && store=()
  measure "$BIN" export --database-url "$BENCH_URL" --sink file --file-path "$out" \
    "${store[@]}" --settle-seconds 0 --batch-size "$BATCH_SIZE" --quiet "$@"
}

# The fairest psql equivalent: the server builds each object with json_build_object and COPY
# streams it to psql, which writes it to the file. CSV with a quote and delimiter that never occur
# in the output writes each JSON text verbatim (the text format would double every backslash).
PSQL_SQL="COPY (SELECT json_build_object('followUpId', id, 'providerId', provider_id,
  'providerName', provider_name, 'action', action, 'notes', notes,
  'platformContext', platform_context, 'conversionCursor', conversion_cursor,
  'conversionHref', conversion_href, 'createdAt', created_at)
  FROM provider_guardrail_followup WHERE created_at <= now()
  ORDER BY created_at, id) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
run_psql() {  # run_psql OUTPUT
  rm -f "$1"
  measure "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$BENCH_URL" -o "$1" -c "$PSQL_SQL"
}

declare -a OURS PSQLS
for round in 1 2; do
  step "round $round/2: guardrail-followups export"
  OURS+=("$(run_ours "$TMP/ours.ndjson")")
  step "round $round/2: psql COPY"
  PSQLS+=("$(run_psql "$TMP/psql.ndjson")")
done
step "guardrail-followups export --limit $LIMIT_ROWS"
LIMITED=$(run_ours "$TMP/ours-limit.ndjson" --limit "$LIMIT_ROWS")

# A run that finds nothing new: the audit's aggregate, which also counts what waits after the
# cursor, is its one read of the table (the main query is skipped). With the audit off it reads
# the table twice: the main query and the count after it.
step "audit: a full export with a file cursor, then runs with nothing new"
AUDIT_CURSOR="$TMP/cursor.json"
run_ours "$TMP/audit-first.ndjson" --cursor-store file --cursor-store-path "$AUDIT_CURSOR" >/dev/null
IDLE_AUDIT=$(run_ours "$TMP/audit-idle.ndjson" --cursor-store file --cursor-store-path "$AUDIT_CURSOR")
IDLE_PLAIN=$(run_ours "$TMP/audit-plain.ndjson" --cursor-store file --cursor-store-path "$AUDIT_CURSOR" \
  --audit-window-seconds 0)
for f in "$TMP/audit-idle.ndjson" "$TMP/audit-plain.ndjson"; do
  [[ ! -s "$f" ]] || { echo "bench: FAIL a run with nothing new delivered rows ($f)" >&2; exit 1; }
done

# Through the webhook: exporter -> the project's gateway on loopback -> a lake. Prints
# "<wall seconds> <exporter peak RSS KiB> <gateway CPU seconds>"; checks the lake got every row.
# run_webhook LAKE CONCURRENCY [GATEWAY FLAGS...]
run_webhook() {
  local lake=$1 concurrency=$2; shift 2
  # A folder lake must exist: the gateway refuses to create a mistyped one.
  [[ $lake == s3://* ]] || mkdir -p "$lake"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$BIN" gateway --listen "127.0.0.1:$port" --lake "$lake" --secret bench-secret-0123456789 "$@" \
    2>>"$TMP/gateway.log" &
  local gateway=$!
  for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
      >/dev/null 2>&1 && break
    sleep 0.1
  done
  local run
  run=$(measure "$BIN" export --database-url "$BENCH_URL" --sink webhook \
    --webhook-url "http://127.0.0.1:$port/v1/followups" --webhook-secret bench-secret-0123456789 \
    --webhook-concurrency "$concurrency" \
    --cursor-store none --settle-seconds 0 --batch-size "$BATCH_SIZE" --quiet)
  # The gateway's user + system CPU so far (clock ticks in /proc/PID/stat, fields 14 and 15),
  # and the rows it stored (its own counter, which works for any lake).
  local cpu stored
  cpu=$(python3 - "$gateway" <<'EOF2'
import os, sys
fields = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
print((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
EOF2
)
  stored=$(python3 -c "
import urllib.request
text = urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=5).read().decode()
print(sum(int(float(l.split()[-1])) for l in text.splitlines() if l.startswith('guardrail_gateway_rows_stored_total')))")
  kill "$gateway"
  wait "$gateway" || true
  [[ "$stored" -eq "$ROWS" ]] || { echo "bench: FAIL the gateway stored $stored rows, expected $ROWS" >&2; exit 1; }
  echo "$run $cpu"
}

step "webhook: exporter -> gateway -> local lake, one batch at a time"
WEBHOOK_1=$(run_webhook "$TMP/lake-1" 1)
LAKE_ROWS=$(find "$TMP/lake-1/guardrail_followups" -name '*.ndjson' -exec cat {} + | wc -l)
[[ "$LAKE_ROWS" -eq "$ROWS" ]] || { echo "bench: FAIL the lake holds $LAKE_ROWS rows, expected $ROWS" >&2; exit 1; }
step "reconcile: the table against its full local lake"
RECONCILE=$(MEASURE_STDOUT="$TMP/reconcile.json" measure "$BIN" reconcile --database-url "$BENCH_URL" \
  --lake "$TMP/lake-1" --json --quiet)
python3 - "$ROWS" "$TMP/reconcile.json" <<'EOF2'
import json, sys
report = json.load(open(sys.argv[2]))
if not report["match"] or report["sourceRows"] != int(sys.argv[1]) or report["lakeRows"] != int(sys.argv[1]):
    sys.exit(f"bench: FAIL reconcile found differences on the full lake: {report}")
EOF2
RECONCILE_FACTS=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['days'], r['lakeObjects'])" \
  "$TMP/reconcile.json")
step "reconcile: a lake of eight 100 MB objects (every row, repeated)"
python3 - "$TMP/ours.ndjson" "$TMP/lake-big" <<'EOF2'
import json, os, sys
source, lake = sys.argv[1], sys.argv[2]
size = os.path.getsize(source)
with open(source, "rb") as f:
    day = json.loads(f.readline())["createdAt"][:10]
folder = os.path.join(lake, "guardrail_followups", f"dt={day}")
os.makedirs(folder, exist_ok=True)
# Object k starts at the k-th eighth of the rows and wraps around until it holds 100 MB, so
# together they hold every row (more than once when the table is under 800 MB).
for k in range(8):
    with open(source, "rb") as f, open(os.path.join(folder, f"gf1-big{k}.ndjson"), "wb") as out:
        f.seek(size * k // 8)
        f.readline()
        written = 0
        while written < 100 * 1024 * 1024:
            line = f.readline()
            if not line:
                f.seek(0)
                continue
            out.write(line)
            written += len(line)
EOF2
RECONCILE_BIG=$(MEASURE_STDOUT="$TMP/reconcile-big.json" measure "$BIN" reconcile --database-url "$BENCH_URL" \
  --lake "$TMP/lake-big" --json --quiet)
python3 - "$ROWS" "$TMP/reconcile-big.json" <<'EOF2'
import json, sys
report = json.load(open(sys.argv[2]))
if not report["match"] or report["lakeRows"] != int(sys.argv[1]):
    sys.exit(f"bench: FAIL reconcile of the 100 MB objects found differences: {report}")
EOF2
rm -rf "$TMP/lake-big"
step "webhook: exporter -> gateway -> local lake, default concurrency ($DEFAULT_CONCURRENCY)"
WEBHOOK_N=$(run_webhook "$TMP/lake-n" "$DEFAULT_CONCURRENCY")
step "webhook: exporter -> gateway -> S3 lake (moto), default concurrency"
python3 - "$TEST_S3_ENDPOINT" <<'EOF2'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(f"{sys.argv[1]}/bench-lake", method="PUT"), timeout=10)
EOF2
WEBHOOK_S3=$(run_webhook "s3://bench-lake/feeds" "$DEFAULT_CONCURRENCY" --s3-endpoint "$TEST_S3_ENDPOINT")

step "checking the outputs"
python3 - "$ROWS" "$LIMIT_ROWS" "$TMP/ours.ndjson" "$TMP/psql.ndjson" "$TMP/ours-limit.ndjson" <<'EOF'
import json, re, sys
rows, limit = int(sys.argv[1]), int(sys.argv[2])
ours, psql, ours_limit = sys.argv[3:6]
uuid = re.compile(rb'^\{"followUpId" ?: ?"([0-9a-f-]{36})"')

def ids(path):
    """The followUpId of every line, checking that the first and last lines are JSON."""
    found, first, last = [], None, None
    with open(path, "rb") as f:
        for line in f:
            m = uuid.match(line)
            if not m:
                sys.exit(f"bench: FAIL {path} line {len(found) + 1} does not start with a followUpId")
            found.append(m.group(1))
            first = first or line
            last = line
    for line in filter(None, (first, last)):
        json.loads(line)
    return found

a, b, c = ids(ours), ids(psql), ids(ours_limit)
for path, got, want in ((ours, a, rows), (psql, b, rows), (ours_limit, c, min(rows, limit))):
    if len(got) != want:
        sys.exit(f"bench: FAIL {path} has {len(got)} lines, expected {want}")
if a != b:
    at = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    sys.exit(f"bench: FAIL the exporter and psql disagree on the order at line {at + 1}")
if c != a[:len(c)]:
    sys.exit("bench: FAIL the --limit export is not the start of the full export")
EOF

# The table: best wall time of each, rows/s, time ratio (psql / ours: above 1x we are faster),
# peak RSS of the exporter for all rows and for the --limit run.
python3 - "$ROWS" "$LIMIT_ROWS" "$BATCH_SIZE" "${OURS[*]}" "${PSQLS[*]}" "$LIMITED" \
  "$IDLE_AUDIT" "$IDLE_PLAIN" "$WEBHOOK_1" "$WEBHOOK_N" "$WEBHOOK_S3" "$DEFAULT_CONCURRENCY" \
  "$RECONCILE" "$RECONCILE_FACTS" "$RECONCILE_BIG" <<'EOF'
import sys
rows, limit, batch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def runs(text):
    v = [float(x) for x in text.split()]
    return list(zip(v[0::2], v[1::2]))
ours, psql, (_, limited_kib) = runs(sys.argv[4]), runs(sys.argv[5]), runs(sys.argv[6])[0]
(idle_audit, _), (idle_plain, _) = (runs(a)[0] for a in sys.argv[7:9])
webhooks = [[float(x) for x in a.split()] for a in sys.argv[9:12]]
default = sys.argv[12]
ours_s, ours_kib = min(t for t, _ in ours), max(k for _, k in ours)
psql_s = min(t for t, _ in psql)
mib = lambda kib: kib / 1024
print(f"{'rows':<26}{rows:,}")
print(f"{'psql COPY json':<26}{psql_s:.2f} s   {rows / psql_s:>9,.0f} rows/s"
      f"   (runs: {', '.join(f'{t:.2f}' for t, _ in psql)} s)")
print(f"{'guardrail-followups file':<26}{ours_s:.2f} s   {rows / ours_s:>9,.0f} rows/s"
      f"   ratio {psql_s / ours_s:.2f}x   peak RSS {mib(ours_kib):.1f} MiB"
      f"   (runs: {', '.join(f'{t:.2f}' for t, _ in ours)} s, batch {batch})")
print(f"{f'peak RSS at {min(rows, limit):,} rows':<26}{mib(limited_kib):.1f} MiB"
      f"  ({rows:,} rows: {mib(ours_kib):.1f} MiB, {round(mib(ours_kib - limited_kib), 1) + 0.0:+.1f} MiB)")
for label, (seconds, kib, cpu) in zip(
        ("webhook, local lake, 1", f"webhook, local lake, {default}", f"webhook, S3 lake, {default}"),
        webhooks):
    print(f"{label:<26}{seconds:.2f} s   {rows / seconds:>9,.0f} rows/s"
          f"   {ours_s / seconds:.2f}x the file sink   peak RSS {mib(kib):.1f} MiB (exporter)"
          f"   gateway CPU {cpu / rows * 100_000:.2f} s per 100,000 rows")
print(f"{'run with nothing new':<26}{idle_audit:.2f} s   (one read of the table: the audit's"
      f" aggregate with the count after the cursor; {idle_plain:.2f} s with the audit off, two reads)")
(reconcile_s, reconcile_kib), = runs(sys.argv[13])
days, objects = (int(x) for x in sys.argv[14].split())
print(f"{'reconcile, local lake':<26}{reconcile_s:.2f} s   {rows / reconcile_s:>9,.0f} rows/s"
      f"   {reconcile_s / ours_s:.2f}x the file export's time   peak RSS {mib(reconcile_kib):.1f} MiB"
      f" (the export's {mib(ours_kib):.1f} MiB)   (every follow-up by content: 0 of {days} days differ,"
      f" {objects:,} objects read)")
(big_s, big_kib), = runs(sys.argv[15])
if big_kib > 100 * 1024:
    sys.exit(f"bench: FAIL reconcile of eight 100 MB objects peaked at {mib(big_kib):.1f} MiB (bound 100 MiB)")
print(f"{'reconcile, 8 x 100 MB':<26}{big_s:.2f} s   {800 / big_s:>9,.0f} MB/s  "
      f"   peak RSS {mib(big_kib):.1f} MiB   (objects streamed line by line: memory does not grow"
      f" with an object's size)")
EOF
