#!/usr/bin/env bash
# Install a real Kubernetes into .tools/bin (ignored by git): etcd, kube-apiserver,
# kube-controller-manager, and for a node that runs pods kube-scheduler, kubelet and the
# sandbox program `pause` (tools/kube/pause), built from the Go module proxy
# through the wrapper modules in tools/kube/etcd and tools/kube/k8s (all four Kubernetes
# binaries in one `go build`: they share most packages).
# The node also needs Debian's containerd, runc and containernetworking-plugins (apt, see .ci/run). Their go.mod
# files pin the versions (and are the only place to change them); their go.sum
# files are complete, so the builds run with -mod=readonly.
# Order, per binary: an existing binary of the right version (project folder, then
# PATH); otherwise `go build`. The first build takes several minutes on 2 cores;
# later runs reuse Go's build cache, or skip the build entirely.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bindir="$root/.tools/bin"
k8s_mod="$root/tools/kube/k8s"
etcd_mod="$root/tools/kube/etcd"
mkdir -p "$bindir"

modver() {  # $1: go.mod, $2: module path -> version without the leading v
  local v
  v="$(awk -v m="$2" '$1 == m && $2 ~ /^v[0-9]/ {print $2; exit}' "$1")"
  if [ -z "$v" ]; then echo "error: $2 is not required in $1" >&2; exit 1; fi
  echo "${v#v}"
}
K8S_VERSION="$(modver "$k8s_mod/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(modver "$etcd_mod/go.mod" go.etcd.io/etcd/server/v3)"

version_of() {  # $1: binary name -> the version it must report
  case "$1" in etcd) echo "$ETCD_VERSION" ;; *) echo "$K8S_VERSION" ;; esac
}
has_version() {  # $1: binary path, $2: name; true when --version names the pinned version
  local out
  out="$("$1" --version 2>/dev/null)" || return 1
  case "$2" in
    etcd) printf '%s\n' "$out" | grep -qx "etcd Version: $(version_of etcd)" ;;
    *)    printf '%s\n' "$out" | grep -qx "Kubernetes v$(version_of "$2")" ;;
  esac
}

# Decide, per binary, whether it is already there.
need_k8s=()
need_etcd=0
for name in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  target="$bindir/$name"
  ver="$(version_of "$name")"
  if [ -x "$target" ] && has_version "$target" "$name"; then
    echo "$name $ver already installed: $target"; continue
  fi
  if command -v "$name" >/dev/null 2>&1 && [ "$(command -v "$name")" != "$target" ] \
     && has_version "$(command -v "$name")" "$name"; then
    ln -sf "$(command -v "$name")" "$target"
    echo "using $name $ver from PATH: $(command -v "$name")"; continue
  fi
  if [ "$name" = etcd ]; then need_etcd=1; else need_k8s+=("$name"); fi
done
pause_mod="$root/tools/kube/pause"
pause_stamp="$(sha256sum "$pause_mod/main.go" "$pause_mod/go.mod" | sha256sum | cut -c1-16)"
need_pause=1
if [ -x "$bindir/pause" ] && [ "$(cat "$bindir/.pause-source" 2>/dev/null)" = "$pause_stamp" ]; then
  need_pause=0; echo "pause already installed: $bindir/pause"
fi
if [ "$need_etcd" = 0 ] && [ "${#need_k8s[@]}" = 0 ] && [ "$need_pause" = 0 ]; then exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: cannot build the Kubernetes control plane: no Go toolchain on PATH." >&2
  echo "Install Go >= 1.26 (https://go.dev/dl/), then re-run $0." >&2
  exit 1
fi

tmp="$(mktemp -d "$bindir/.kube-build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log="$tmp/go.log"

run_go() {  # $1: module dir, $2: what, rest: go build arguments. Go's output only on failure.
  local dir="$1" what="$2" start
  shift 2
  start=$SECONDS
  if ! (cd "$dir" && go build -mod=readonly -trimpath "$@") >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "error: building $what failed (go build -mod=readonly in $dir, output above)." >&2
    echo "It needs Go >= 1.26 (this is $(go env GOVERSION)), the Go module proxy or a filled module" >&2
    echo "cache, and a complete go.sum (after changing a version in go.mod: cd $dir && go mod tidy)." >&2
    exit 1
  fi
  echo "  (built $what in $((SECONDS - start)) s)"
}

install_bin() {  # $1: name; move the fresh build in place and check its version
  mv -f "$tmp/$1" "$bindir/$1"
  if ! has_version "$bindir/$1" "$1"; then
    echo "error: built $bindir/$1 but it does not report version $(version_of "$1")" >&2
    exit 1
  fi
  echo "installed $1 $(version_of "$1"): $bindir/$1"
}

if [ "$need_pause" = 1 ]; then  # static: it runs alone in the sandbox image
  CGO_ENABLED=0 run_go "$pause_mod" "pause" -ldflags "-s -w" -o "$tmp/pause" .
  mv -f "$tmp/pause" "$bindir/pause"
  echo "$pause_stamp" >"$bindir/.pause-source"
  echo "installed pause: $bindir/pause"
fi

if [ "$need_etcd" = 1 ]; then
  echo "building etcd $ETCD_VERSION with go build (Go module proxy)..."
  run_go "$etcd_mod" "etcd $ETCD_VERSION" -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
  install_bin etcd
fi

if [ "${#need_k8s[@]}" -gt 0 ]; then
  major="${K8S_VERSION%%.*}"; minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done
  pkgs=()
  for name in "${need_k8s[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$name"); done
  echo "building ${need_k8s[*]} $K8S_VERSION with go build (Go module proxy; several minutes when cold)..."
  # One go build for both: they share most packages. With several main packages, -o is a folder.
  run_go "$k8s_mod" "${need_k8s[*]} $K8S_VERSION" -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}"
  for name in "${need_k8s[@]}"; do install_bin "$name"; done
fi
