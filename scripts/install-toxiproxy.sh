#!/usr/bin/env bash
# Install the pinned Toxiproxy server into .tools/bin/toxiproxy-server (ignored by git).
# Order: an existing binary of the right version (project folder, then PATH);
# otherwise `go install` from the Go module proxy, stamped with the version.
set -euo pipefail
VERSION="2.12.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bindir="$root/.tools/bin"
target="$bindir/toxiproxy-server"
mkdir -p "$bindir"

has_version() {  # $1: binary; true when `-version` names $VERSION
  "$1" -version 2>/dev/null | grep -q "$VERSION"
}

if [ -x "$target" ] && has_version "$target"; then
  echo "toxiproxy-server $VERSION already installed: $target"; exit 0
fi
if command -v toxiproxy-server >/dev/null 2>&1 && has_version "$(command -v toxiproxy-server)"; then
  ln -sf "$(command -v toxiproxy-server)" "$target"
  echo "using toxiproxy-server $VERSION from PATH: $(command -v toxiproxy-server)"; exit 0
fi
if command -v go >/dev/null 2>&1; then
  echo "building toxiproxy-server $VERSION with go install (Go module proxy)..."
  gobin="$root/.tools/gobin"
  mkdir -p "$gobin"
  GOBIN="$gobin" GOFLAGS="-mod=mod" go install \
    -ldflags "-X github.com/Shopify/toxiproxy/v2.Version=$VERSION" \
    "github.com/Shopify/toxiproxy/v2/cmd/server@v$VERSION"
  mv -f "$gobin/server" "$target"
  if has_version "$target"; then
    echo "installed toxiproxy-server $VERSION: $target"; exit 0
  fi
  echo "error: built $target but it does not report version $VERSION" >&2; exit 1
fi
echo "error: cannot install toxiproxy-server $VERSION: no binary of that version on PATH and no Go toolchain." >&2
echo "Install Go (https://go.dev/dl/) or put toxiproxy-server $VERSION on PATH, then re-run $0." >&2
exit 1
