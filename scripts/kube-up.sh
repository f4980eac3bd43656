#!/usr/bin/env bash
# Start (or stop) a throw-away Kubernetes control plane on loopback for tests:
# etcd + kube-apiserver + kube-controller-manager from .tools/bin (see install-kube.sh).
# Without --node there is no scheduler and no kubelet: pods stay Pending, and deleting an
# unscheduled pod removes it at once. The controller manager re-creates pods of ReplicaSets.
# With --node, a node that runs pods joins (scripts/kube-node.sh): containerd and runc
# (Debian packages), kubelet and kube-scheduler; `hostNetwork: true` pods on 127.0.0.1 ports.
#
#   scripts/kube-up.sh [--node] DIR  start; prints the API URL (https://127.0.0.1:PORT)
#   scripts/kube-up.sh --down DIR    stop what `kube-up.sh DIR` started (by PID)
#
# DIR gets: kubeconfig (static admin token, group system:masters; the server's
# self-signed certificate is verified through ca.crt), token, pids ("name pid" lines),
# ports, *.log, and the etcd data and certificates, all fresh on every start.
# Every port is a free one on 127.0.0.1; nothing listens on other addresses.
# Environment: KUBE_UP_TIMEOUT (seconds per component to become ready, default 120),
# KUBE_CONTROLLERS (kube-controller-manager --controllers, default below),
# KUBE_BIN_DIR (default .tools/bin).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bindir="${KUBE_BIN_DIR:-$root/.tools/bin}"
timeout="${KUBE_UP_TIMEOUT:-120}"
controllers="${KUBE_CONTROLLERS:-serviceaccount,namespace,garbagecollector,replicaset,deployment}"

usage() { echo "usage: $0 [--node] DIR | $0 --down DIR" >&2; exit 2; }
log() { echo "kube-up: $*" >&2; }

is_ours() {  # $1: pid, $2: binary name, $3: state dir; true while that pid runs
  # that binary with that state dir in its arguments (so a reused pid is never ours)
  local argv0="" cmd
  [ -r "/proc/$1/cmdline" ] || return 1
  IFS= read -r -d '' argv0 <"/proc/$1/cmdline" || true
  [ "${argv0##*/}" = "$2" ] || return 1
  cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *"=$3/"* ]]
}

down() {  # $1: state dir. Stops in reverse start order; TERM, then KILL after 15 s.
  local dir="$1" pidfile="$1/pids" name pid i
  [ -f "$pidfile" ] || { log "nothing to stop: no $pidfile"; return 0; }
  if [ -f "$dir/node/config.toml" ]; then node_down "$dir"; fi
  for name in kube-controller-manager kube-apiserver etcd; do
    pid="$(awk -v n="$name" '$1 == n {print $2}' "$pidfile")"
    [ -n "$pid" ] || continue
    if ! is_ours "$pid" "$name" "$dir"; then log "$name (pid $pid) is not running"; continue; fi
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do is_ours "$pid" "$name" "$dir" || break; sleep 0.1; done
    if is_ours "$pid" "$name" "$dir"; then log "$name (pid $pid) ignored TERM for 15 s; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
    log "stopped $name (pid $pid)"
  done
  rm -f "$pidfile"
}

# shellcheck source=scripts/kube-node.sh
. "$root/scripts/kube-node.sh"

if [ "${1:-}" = "--down" ]; then
  [ $# -eq 2 ] || usage
  [ -d "$2" ] || { log "nothing to stop: no directory $2"; exit 0; }
  down "$(cd "$2" && pwd -P)"; exit 0
fi
with_node=0
if [ "${1:-}" = "--node" ]; then with_node=1; shift; fi
[ $# -eq 1 ] && [ "${1#-}" = "$1" ] || usage
if [ "$with_node" = 1 ]; then
  node_check
  # nodelifecycle lifts the not-ready taint; root-ca-cert-publisher makes the kube-root-ca.crt
  # ConfigMap service-account volumes need; job and ttl-after-finished run the agents' Jobs.
  for c in nodelifecycle root-ca-cert-publisher job ttl-after-finished; do
    case ",$controllers," in *",$c,"*) ;; *) controllers="$controllers,$c" ;; esac
  done
fi

for name in etcd kube-apiserver kube-controller-manager; do
  [ -x "$bindir/$name" ] || { echo "error: $bindir/$name is missing: run scripts/install-kube.sh first" >&2; exit 1; }
done
for tool in openssl curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: kube-up.sh needs $tool on PATH" >&2; exit 1; }
done

mkdir -p "$1"
dir="$(cd "$1" && pwd -P)"
if [ -f "$dir/pids" ]; then
  while read -r name pid; do
    if is_ours "$pid" "$name" "$dir"; then
      echo "error: $name (pid $pid) from $dir is still running: run $0 --down $dir first" >&2; exit 1
    fi
  done <"$dir/pids"
  rm -f "$dir/pids"
fi
rm -rf "$dir/etcd-data" "$dir/certs"
mkdir -p "$dir/certs"

# If anything below fails, stop what was started already.
trap 'rc=$?; if [ $rc -ne 0 ]; then down "$dir"; fi' EXIT
trap 'exit 130' INT TERM

free_ports() {  # $1: how many distinct free ports on 127.0.0.1 (held together while chosen)
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()
' "$1"
}
read -r etcd_port peer_port api_port kcm_port < <(free_ports 4)
printf 'etcd %s\netcd-peer %s\nkube-apiserver %s\nkube-controller-manager %s\n' \
  "$etcd_port" "$peer_port" "$api_port" "$kcm_port" >"$dir/ports"

# Credentials: a service-account signing key and a static admin token.
openssl genrsa -out "$dir/certs/sa.key" 2048 2>/dev/null
openssl rsa -in "$dir/certs/sa.key" -pubout -out "$dir/certs/sa.pub" 2>/dev/null
token="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
printf '%s\n' "$token" >"$dir/token"
printf '%s,admin,admin,"system:masters"\n' "$token" >"$dir/certs/tokens.csv"
chmod 600 "$dir/token" "$dir/certs/tokens.csv" "$dir/certs/sa.key"

start() {  # $1: name, rest: arguments. Records "name pid" in DIR/pids.
  local name="$1"; shift
  "$bindir/$name" "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo "$name $!" >>"$dir/pids"
}

wait_ready() {  # $1: name, $2: what, rest: curl arguments; bounded by $timeout seconds
  local name="$1" what="$2" t0=$SECONDS i pid
  pid="$(awk -v n="$name" '$1 == n {print $2}' "$dir/pids")"
  shift 2
  for i in $(seq 1 $((timeout * 4))); do
    # kill -0, not is_ours: right after `&` the child may still be bash, before its exec
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$dir/$name.log" >&2
      echo "error: $name exited during start-up (log above, full log: $dir/$name.log)" >&2; exit 1
    fi
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" 2>/dev/null)" = 200 ]; then
      log "$what after $((SECONDS - t0)) s (pid $pid)"; return 0
    fi
    [ $((SECONDS - t0)) -lt "$timeout" ] || break
    sleep 0.25
  done
  tail -n 30 "$dir/$name.log" >&2
  echo "error: $name: no \"$what\" within $timeout s (log above, full log: $dir/$name.log)" >&2; exit 1
}

# 1. etcd
start etcd \
  --name=kube-up --data-dir="$dir/etcd-data" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-cluster="kube-up=http://127.0.0.1:$peer_port" \
  --unsafe-no-fsync --log-level=warn
wait_ready etcd "etcd ready" "http://127.0.0.1:$etcd_port/readyz"

# 2. kube-apiserver (serving certificate self-signed into DIR/certs). No endpoint
# reconciler: the Endpoints of service "kubernetes" may not hold a loopback address,
# so the default reconciler would log that error every few seconds.
url="https://127.0.0.1:$api_port"
start kube-apiserver \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
  --cert-dir="$dir/certs" \
  --token-auth-file="$dir/certs/tokens.csv" --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-signing-key-file="$dir/certs/sa.key" \
  --service-account-key-file="$dir/certs/sa.pub" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --endpoint-reconciler-type=none
wait_ready kube-apiserver "kube-apiserver ready" \
  -k -H "Authorization: Bearer $token" "$url/readyz"

# The serving certificate file holds the leaf and its self-signed CA: trust that.
cp "$dir/certs/apiserver.crt" "$dir/ca.crt"
cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-up
  cluster:
    server: $url
    certificate-authority: $dir/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: kube-up
  context:
    cluster: kube-up
    user: admin
    namespace: default
current-context: kube-up
EOF
chmod 600 "$dir/kubeconfig"

# 3. kube-controller-manager. It checks the requests to its own port with the API server;
# skip-lookup: there is no client CA, hence no extension-apiserver-authentication ConfigMap.
start kube-controller-manager \
  --kubeconfig="$dir/kubeconfig" \
  --authentication-kubeconfig="$dir/kubeconfig" --authorization-kubeconfig="$dir/kubeconfig" \
  --authentication-skip-lookup=true \
  --bind-address=127.0.0.1 --secure-port="$kcm_port" \
  --cert-dir="$dir/certs/kcm" \
  --controllers="$controllers" --leader-elect=false \
  --root-ca-file="$dir/ca.crt"
wait_ready kube-controller-manager "kube-controller-manager healthy" \
  -k "https://127.0.0.1:$kcm_port/healthz"

# Pods can be created only once the serviceaccount controller made the "default"
# ServiceAccount of their namespace; wait for it in "default" (when that controller runs).
if [[ ",$controllers," == *,serviceaccount,* ]]; then
  wait_ready kube-controller-manager "ServiceAccount default/default created" \
    --cacert "$dir/ca.crt" -H "Authorization: Bearer $token" "$url/api/v1/namespaces/default/serviceaccounts/default"
fi

if [ "$with_node" = 1 ]; then node_up "$dir"; fi

log "kubeconfig: $dir/kubeconfig   stop: $0 --down $dir"
echo "$url"
