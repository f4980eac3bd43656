#!/usr/bin/env bash
# Install the pinned actionlint (GitHub Actions workflow linter) into .tools/bin (ignored by git).
# The tests lint the pipeline templates in examples/ci/ and action.yml with it.
# Order: an existing binary of the right version (project folder, then PATH); otherwise
# `go install` from the Go module proxy.
set -euo pipefail
VERSION="1.7.12"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bindir="$root/.tools/bin"
target="$bindir/actionlint"
mkdir -p "$bindir"

has_version() {  # $1: binary; true when `-version` names $VERSION
  "$1" -version 2>/dev/null | head -n 1 | grep -qx "v\?$VERSION"
}

if [ -x "$target" ] && has_version "$target"; then
  echo "actionlint $VERSION already installed: $target"; exit 0
fi
if command -v actionlint >/dev/null 2>&1 && [ "$(command -v actionlint)" != "$target" ] \
   && has_version "$(command -v actionlint)"; then
  ln -sf "$(command -v actionlint)" "$target"
  echo "using actionlint $VERSION from PATH: $(command -v actionlint)"; exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "error: cannot install actionlint $VERSION: no Go toolchain on PATH." >&2
  echo "Install Go (https://go.dev/dl/) or put actionlint $VERSION on PATH, then re-run $0." >&2
  exit 1
fi
echo "building actionlint $VERSION with go install (Go module proxy)..."
gobin="$(mktemp -d "$bindir/.actionlint-build.XXXXXX")"
trap 'rm -rf "$gobin"' EXIT
GOBIN="$gobin" go install -trimpath \
  -ldflags "-s -w -X github.com/rhysd/actionlint.version=v$VERSION" \
  "github.com/rhysd/actionlint/cmd/actionlint@v$VERSION"
mv -f "$gobin/actionlint" "$target"
if has_version "$target"; then
  echo "installed actionlint $VERSION: $target"; exit 0
fi
echo "error: built $target but it does not report version $VERSION ($("$target" -version 2>&1 | head -n 1))" >&2
exit 1
