#!/usr/bin/env bash
# Runs a command with an S3-compatible server it can use, given in TEST_S3_ENDPOINT.
#
# If TEST_S3_ENDPOINT is already set, that server is used as it is (with your AWS_* credentials).
# Otherwise moto's S3 server (`moto_server`, PyPI package `moto[server]`, installed with pip when
# missing) is started on a free loopback port, with throwaway credentials, and stopped when the
# command ends. Tests create their own buckets.
#
# Usage: scripts/with-s3.sh COMMAND [ARGS...]
set -euo pipefail

if [[ -n "${TEST_S3_ENDPOINT:-}" ]]; then
  exec "$@"
fi

if ! command -v moto_server >/dev/null 2>&1; then
  echo "with-s3: installing the S3-compatible test server moto[server] with pip..." >&2
  if ! python3 -m pip install --quiet 'moto[server]' >&2 || ! command -v moto_server >/dev/null 2>&1; then
    echo "with-s3: cannot install moto_server. Install it (python3 -m pip install 'moto[server]')," >&2
    echo "or set TEST_S3_ENDPOINT=http://host:port (and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) to use an S3-compatible server you run." >&2
    exit 1
  fi
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/guardrail-s3.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!

cleanup() {
  kill "$SERVER" >/dev/null 2>&1 || true
  wait "$SERVER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ready=false
for _ in $(seq 1 150); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/', timeout=1)" >/dev/null 2>&1; then
    ready=true
    break
  fi
  if ! kill -0 "$SERVER" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
if [[ $ready != true ]]; then
  echo "with-s3: moto_server did not answer on 127.0.0.1:$PORT:" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi

export TEST_S3_ENDPOINT="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
echo "with-s3: moto S3 server on 127.0.0.1:$PORT" >&2
"$@"
