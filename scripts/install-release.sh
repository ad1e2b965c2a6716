#!/usr/bin/env bash
# Installs a released guardrail-followups binary: downloads the release's tarball for this
# machine and its SHA256SUMS, checks the tarball's checksum, and only then puts the binary in
# DEST. A checksum that does not match (or a missing file) installs nothing and exits 1.
#
#   scripts/install-release.sh VERSION [DEST]     e.g. scripts/install-release.sh 0.2.0 "$HOME/.local/bin"
#
# VERSION is the tag without its "v". The files come from
#   $GUARDRAIL_RELEASE_BASE/v$VERSION/   (default https://github.com/$GITHUB_REPOSITORY/releases/download,
#                                         GITHUB_REPOSITORY as GitHub Actions sets it)
# The hourly workflow uses this when the repository variable GUARDRAIL_FOLLOWUPS_VERSION is set.
set -euo pipefail

fail() {
  echo "install-release: $*" >&2
  exit 1
}
[[ $# -ge 1 && -n $1 ]] || fail "usage: install-release.sh VERSION [DEST]"
version=${1#v}
dest=${2:-bin}
case $(uname -m) in
  x86_64 | amd64) target=x86_64-unknown-linux-gnu ;;
  aarch64 | arm64) target=aarch64-unknown-linux-gnu ;;
  *) fail "no release is built for $(uname -m); build from source: cargo install --locked --path ." ;;
esac
if [[ -n ${GUARDRAIL_RELEASE_BASE:-} ]]; then
  base=${GUARDRAIL_RELEASE_BASE%/}
elif [[ -n ${GITHUB_REPOSITORY:-} ]]; then
  base="${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY/releases/download"
else
  fail "set GUARDRAIL_RELEASE_BASE (e.g. https://github.com/OWNER/REPO/releases/download) or GITHUB_REPOSITORY"
fi
tarball="guardrail-followups-$version-$target.tar.gz"
url="$base/v$version"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for file in SHA256SUMS "$tarball"; do
  curl -fsSL --retry 3 --proto '=https,http' -o "$work/$file" "$url/$file" ||
    fail "cannot download $url/$file"
done
# The line for this tarball only; `sha256sum --check` fails on a mismatch or a missing line.
grep -E "^[0-9a-f]{64}  $tarball\$" "$work/SHA256SUMS" >"$work/expected" ||
  fail "SHA256SUMS of v$version has no line for $tarball"
(cd "$work" && sha256sum --check --quiet expected) ||
  fail "the checksum of $tarball does not match SHA256SUMS: nothing was installed"
tar -xzf "$work/$tarball" -C "$work"
binary="$work/guardrail-followups-$version-$target/guardrail-followups"
[[ -x $binary ]] || fail "$tarball holds no guardrail-followups binary"
mkdir -p "$dest"
install -m 0755 "$binary" "$dest/guardrail-followups.new"
mv -f "$dest/guardrail-followups.new" "$dest/guardrail-followups"
echo "install-release: $("$dest/guardrail-followups" --version) in $dest" >&2
