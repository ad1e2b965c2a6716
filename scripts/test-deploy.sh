#!/usr/bin/env bash
# The deployment test: the Debian package installed on a booted Debian 12 (systemd as PID 1 in
# a systemd-nspawn container), configured with only the edits the runbook tells a user to make,
# and used as a user would: the export from `systemctl start`, the gateway landing its batches,
# the ops page (over HTTP, signed in) Healthy with the right row count, its download equal to
# the archive's latest.ndjson, "Run export now" adding a run to the card's history, and the
# journal holding the summary lines and no secret.
#
# Runs under scripts/with-postgres.sh (TEST_DATABASE_URL); scripts/test.sh runs it after the
# cargo tests. Needs root, debootstrap, systemd-nspawn (systemd-container), cargo-deb, curl.
# The container shares this machine's loopback: the units listen on 127.0.0.1:8080 and :8081,
# which must be free. The root filesystem is cached in target/deploy/rootfs (about 40 s to make).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "test-deploy: FAILED: $*" >&2
  exit 1
}
need() {
  command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed: $2"
}
[[ $(id -u) -eq 0 ]] || fail "must run as root (it boots a container)"
need debootstrap "apt-get install debootstrap"
need systemd-nspawn "apt-get install systemd-container"
need cargo-deb "cargo install --locked cargo-deb"
need curl "apt-get install curl"
need psql "apt-get install postgresql-client"
need man "apt-get install man-db"
[[ -n "${TEST_DATABASE_URL:-}" ]] || fail "TEST_DATABASE_URL is not set: run it under scripts/with-postgres.sh"
for port in 8080 8081; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "127.0.0.1:$port is in use; the units listen there (stop what uses it)"
  fi
done

WORK=target/deploy
ROOTFS=$WORK/rootfs
RUN=$WORK/run
mkdir -p "$WORK"

echo "test-deploy: building the package" >&2
PROFILE=dev scripts/package.sh >"$WORK/package.log" 2>&1 || { cat "$WORK/package.log" >&2; fail "packaging"; }
DEB=$(ls -t target/debian/guardrail-followups_*.deb | head -n 1)

# What the package holds: the binary, the units, the env files as conffiles, the man pages and
# the completions; the man page renders, the bash completion loads, --version names the commit.
contents=$(dpkg-deb -c "$DEB" | awk '{print $6}')
for file in ./usr/bin/guardrail-followups \
  ./lib/systemd/system/guardrail-followups-export.service \
  ./lib/systemd/system/guardrail-followups-export.timer \
  ./lib/systemd/system/guardrail-followups-export.path \
  ./lib/systemd/system/guardrail-followups-admin.service \
  ./lib/systemd/system/guardrail-followups-gateway.service \
  ./lib/systemd/system/guardrail-followups-reconcile.service \
  ./lib/systemd/system/guardrail-followups-reconcile.timer \
  ./etc/guardrail-followups/export.env ./etc/guardrail-followups/admin.env \
  ./etc/guardrail-followups/gateway.env \
  ./usr/share/man/man1/guardrail-followups.1.gz ./usr/share/man/man1/guardrail-followups-export.1.gz \
  ./usr/share/bash-completion/completions/guardrail-followups \
  ./usr/share/zsh/vendor-completions/_guardrail-followups \
  ./usr/share/fish/vendor_completions.d/guardrail-followups.fish; do
  grep -qxF "$file" <<<"$contents" || fail "the package lacks $file"
done
conffiles=$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)
for env in export admin gateway; do
  grep -qxF "/etc/guardrail-followups/$env.env" <<<"$conffiles" || fail "$env.env is not a conffile"
done
man -l target/assets/man/guardrail-followups-export.1.gz 2>/dev/null | grep -q -- '--status-path' ||
  fail "man -l does not render guardrail-followups-export(1) with its flags"
bash -c 'source target/assets/completions/guardrail-followups.bash && complete -p guardrail-followups' \
  >/dev/null || fail "the bash completion does not load"
target/debug/guardrail-followups --version | grep -Eq '^guardrail-followups [0-9.]+ \(commit [0-9a-f]{12}\)$' ||
  fail "--version does not name the commit: $(target/debug/guardrail-followups --version)"

if [[ ! -f $ROOTFS/.complete ]]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  mirror=${mirror:-$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  echo "test-deploy: debootstrap bookworm from $mirror into $ROOTFS (once; cached)" >&2
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,ca-certificates \
    bookworm "$ROOTFS" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 20 "$WORK/debootstrap.log" >&2; fail "debootstrap"; }
  touch "$ROOTFS/.complete"
fi

# A fresh copy for this run, so every run starts from a machine that never saw the package.
rm -rf "$RUN"
cp -a "$ROOTFS" "$RUN"
cp "$DEB" "$RUN/root/guardrail-followups.deb"

# systemd-nspawn needs these when this machine's PID 1 is not systemd (a CI container).
if [[ ! -d /run/systemd/system ]]; then
  mkdir -p /run/systemd/nspawn /run/systemd/inaccessible
  mountpoint -q /run/systemd/nspawn || mount -t tmpfs tmpfs /run/systemd/nspawn
  [[ -e /run/systemd/inaccessible/reg ]] || install -m 0 /dev/null /run/systemd/inaccessible/reg
  [[ -e /run/systemd/inaccessible/dir ]] || install -d -m 0 /run/systemd/inaccessible/dir
  [[ -e /run/systemd/inaccessible/fifo ]] || { mkfifo /run/systemd/inaccessible/fifo && chmod 0 /run/systemd/inaccessible/fifo; }
  [[ -e /run/systemd/inaccessible/chr ]] || { mknod -m 0 /run/systemd/inaccessible/chr c 0 0; }
  [[ -e /run/systemd/inaccessible/blk ]] || { mknod -m 0 /run/systemd/inaccessible/blk b 0 0; }
fi

NSPAWN_PID=
cleanup() {
  if [[ -n $NSPAWN_PID ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
    kill -TERM "$NSPAWN_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$NSPAWN_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

echo "test-deploy: booting Debian 12 in systemd-nspawn" >&2
systemd-nspawn -q -D "$RUN" --keep-unit --register=no --boot >"$WORK/console.log" 2>&1 &
NSPAWN_PID=$!

# The container's PID 1: the descendant of systemd-nspawn running systemd.
INIT=
for _ in $(seq 1 100); do
  for pid in $(pgrep -P "$NSPAWN_PID" 2>/dev/null) $(pgrep -P "$(pgrep -P "$NSPAWN_PID" | head -n 1)" 2>/dev/null); do
    if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == systemd ]]; then INIT=$pid; break 2; fi
  done
  sleep 0.2
done
[[ -n $INIT ]] || { cat "$WORK/console.log" >&2; fail "the container's systemd did not start"; }
inside() { nsenter -t "$INIT" -a "$@"; }

state=
for _ in $(seq 1 120); do
  state=$(inside systemctl is-system-running 2>/dev/null || true)
  [[ $state == running || $state == degraded ]] && break
  sleep 0.5
done
[[ $state == running || $state == degraded ]] || fail "the container did not finish booting ($state)"
echo "test-deploy: booted ($state)" >&2

# The database: a fresh one with the table as schema/postgres.sql defines it, and 120 rows.
DB=guardrail_deploy_$$
psql -q "$TEST_DATABASE_URL" -c "CREATE DATABASE $DB"
DB_URL="${TEST_DATABASE_URL%/*}/$DB"
psql -q "$DB_URL" -f schema/postgres.sql
# insert_rows N HOURS_AGO: N rows a second apart from HOURS_AGO hours ago.
insert_rows() {
  psql -q "$DB_URL" -c "INSERT INTO provider_guardrail_followup (id, provider_id, provider_name, action, notes, created_at)
    SELECT gen_random_uuid(), 'provider-' || (i % 5), 'Provider ' || (i % 5), 'pause', 'note ' || i,
           now() - make_interval(hours => $2) + make_interval(secs => i)
    FROM generate_series(1, $1) AS i"
}
insert_rows 120 3

echo "test-deploy: installing $(basename "$DEB") with apt" >&2
inside env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/guardrail-followups.deb \
  >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; fail "apt-get install of the package"; }
for unit in guardrail-followups-export.timer guardrail-followups-admin.service \
  guardrail-followups-gateway.service guardrail-followups-reconcile.timer; do
  [[ $(inside systemctl is-enabled "$unit" 2>/dev/null || true) == disabled ]] ||
    fail "$unit is enabled before it is configured"
done
mode=$(inside stat -c '%a %U' /etc/guardrail-followups/export.env)
[[ $mode == "600 root" ]] || fail "export.env is $mode, not 600 root"

# The runbook's edits, and nothing else: the CHANGE-ME values and where the database and the
# gateway are.
SECRET=$(openssl rand -hex 24)
PASSWORD=$(openssl rand -hex 12)
edit() { inside sed -i "$2" "/etc/guardrail-followups/$1"; }
edit export.env "s|^DATABASE_URL=.*|DATABASE_URL='$DB_URL'|"
edit export.env "s|^ANALYTICS_GUARDRAIL_WEBHOOK=.*|ANALYTICS_GUARDRAIL_WEBHOOK='http://127.0.0.1:8080/v1/followups'|"
edit export.env "s|^GUARDRAIL_EXPORT_WEBHOOK_SECRET=.*|GUARDRAIL_EXPORT_WEBHOOK_SECRET='$SECRET'|"
edit gateway.env "s|^GUARDRAIL_GATEWAY_SECRET=.*|GUARDRAIL_GATEWAY_SECRET='$SECRET'|"
edit admin.env "s|^GUARDRAIL_ADMIN_PASSWORD=.*|GUARDRAIL_ADMIN_PASSWORD='$PASSWORD'|"

inside systemctl enable --now guardrail-followups-gateway.service guardrail-followups-admin.service \
  guardrail-followups-export.path guardrail-followups-export.timer >/dev/null 2>&1 ||
  { inside journalctl --no-pager -n 50 >&2; fail "enabling the units"; }
wait_http() {
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done
  inside journalctl --no-pager -n 40 >&2
  fail "nothing answers at $1"
}
wait_http http://127.0.0.1:8080/healthz
wait_http http://127.0.0.1:8081/admin/login

echo "test-deploy: first export (systemctl start)" >&2
inside systemctl start guardrail-followups-export.service ||
  { inside journalctl --no-pager -u guardrail-followups-export -n 40 >&2; fail "the export unit failed"; }
[[ $(inside systemctl show -p Result --value guardrail-followups-export.service) == success ]] ||
  fail "the export unit's result is not success"
stored=$(inside sh -c 'cat /var/lib/guardrail-followups-gateway/lake/guardrail_followups/dt=*/*.ndjson' | wc -l)
[[ $stored -eq 120 ]] || fail "the gateway's lake holds $stored rows, not 120"

# The ops page, as a browser uses it: sign in, read the card.
JAR=$WORK/cookies
rm -f "$JAR"
code=$(curl -sS -o /dev/null -w '%{http_code}' -c "$JAR" --data-urlencode "password=$PASSWORD" \
  http://127.0.0.1:8081/admin/login)
[[ $code == 303 ]] || fail "signing in answered $code"
card() { curl -fsS -b "$JAR" http://127.0.0.1:8081/admin/reports; }
page=$(card)
grep -q '>Healthy<' <<<"$page" || { echo "$page" >&2; fail "the card is not Healthy"; }
grep -q 'id="fact-rows".*>120<\|>120</' <<<"$page" || { echo "$page" >&2; fail "the card does not show 120 rows"; }
curl -fsS -b "$JAR" -o "$WORK/download.ndjson" http://127.0.0.1:8081/api/reporting/guardrail-followups/export ||
  fail "the download failed"
inside cat /var/lib/guardrail-followups/archive/latest.ndjson >"$WORK/latest.ndjson"
cmp -s "$WORK/download.ndjson" "$WORK/latest.ndjson" || fail "the download differs from archive/latest.ndjson"
[[ $(wc -l <"$WORK/download.ndjson") -eq 120 ]] || fail "the download does not hold 120 rows"

# "Run export now": the page writes the request file, the path unit starts the export.
insert_rows 30 1
runs_before=$(grep -c 'class="run run-' <<<"$page" || true)
token=$(grep -o 'name="csrf_token" value="[^"]*"' <<<"$page" | head -n 1 | sed 's/.*value="//; s/"$//')
[[ -n $token ]] || fail "the card has no Run export now form"
code=$(curl -sS -o /dev/null -w '%{http_code}' -b "$JAR" --data-urlencode "csrf_token=$token" \
  http://127.0.0.1:8081/api/reporting/guardrail-followups/trigger)
[[ $code == 303 ]] || fail "Run export now answered $code"
# The page re-reads the status at most every 15 s after a click; the run takes a second or two.
runs_after=$runs_before
for _ in $(seq 1 150); do
  page=$(card)
  runs_after=$(grep -c 'class="run run-' <<<"$page" || true)
  [[ $runs_after -gt $runs_before ]] && break
  sleep 0.2
done
[[ $runs_after -gt $runs_before ]] ||
  { inside journalctl --no-pager -n 40 >&2; fail "the card's history did not gain a run after Run export now ($runs_before → $runs_after)"; }
grep -q '>Healthy<' <<<"$page" || { echo "$page" >&2; fail "the card is not Healthy after Run export now"; }

# The nightly reconcile, as shipped: one row edited and one deleted in the source since they
# were delivered. Its repair sends the edit again and a tombstone for the deletion through the
# gateway, and ends with the lake equal to the source by content.
echo "test-deploy: reconcile --repair (systemctl start)" >&2
psql -q "$DB_URL" -c "UPDATE provider_guardrail_followup SET notes = 'edited after delivery'
  WHERE id = (SELECT id FROM provider_guardrail_followup ORDER BY created_at, id OFFSET 5 LIMIT 1)"
deleted=$(psql -qAt "$DB_URL" -c "DELETE FROM provider_guardrail_followup
  WHERE id = (SELECT id FROM provider_guardrail_followup ORDER BY created_at, id OFFSET 10 LIMIT 1)
  RETURNING id")
inside systemctl enable guardrail-followups-reconcile.timer >/dev/null 2>&1 ||
  fail "enabling the reconcile timer"
inside systemctl start guardrail-followups-reconcile.service ||
  { inside journalctl --no-pager -u guardrail-followups-reconcile -n 40 >&2; fail "the reconcile unit failed"; }
[[ $(inside systemctl show -p Result --value guardrail-followups-reconcile.service) == success ]] ||
  fail "the reconcile unit's result is not success"
report=$(inside journalctl --no-pager -o cat -u guardrail-followups-reconcile)
grep -q 'repair: delivered 1 follow-up again through the webhook sink, sent 1 tombstone' <<<"$report" ||
  { echo "$report" >&2; fail "the reconcile did not repair the edit and the deletion"; }
grep -q 'reconcile: all [0-9]* days match by content' <<<"$report" ||
  { echo "$report" >&2; fail "the reconcile did not end with the lake equal to the source"; }
inside sh -c 'cat /var/lib/guardrail-followups-gateway/lake/guardrail_followups/dt=*/*.ndjson' |
  grep -q "\"followUpId\":\"$deleted\".*\"deletedAt\"" || fail "the lake holds no tombstone for $deleted"

# The journal: the summary lines, and no secret anywhere.
journal=$(inside journalctl --no-pager -o cat)
grep -q 'exported 120 rows' <<<"$journal" || fail "the journal has no summary of the first run"
grep -q 'exported 30 rows' <<<"$journal" ||
  { grep -i 'export' <<<"$journal" | tail -n 20 >&2; fail "the journal has no summary of the second run"; }
for secret in "$SECRET" "$PASSWORD" "postgres:postgres@"; do
  if grep -qF "$secret" <<<"$journal"; then fail "the journal holds a secret"; fi
done

inside systemctl poweroff >/dev/null 2>&1 || true
psql -q "$TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
echo "test-deploy: ok (package installed, units ran, ops page Healthy with 120 rows, download = latest.ndjson, Run export now ran 30 more, reconcile repaired an edit and a deletion)" >&2
