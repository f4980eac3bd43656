# shellcheck shell=bash
# The node of `scripts/kube-up.sh --node DIR` (sourced by kube-up.sh, not run alone):
# containerd + runc (Debian packages: containerd 1.6, runc 1.1), kubelet and kube-scheduler
# (.tools/bin, built with the control plane by install-kube.sh), a pause image for sandboxes.
#
# Configuration, each line needed on these machines (docs: ../shared/reference/kubernetes.md C):
# - containerd runs by hand with its root, state, socket and runc root in DIR/node, and CRI's
#   restrict_oom_score_adj (root here lacks CAP_SYS_RESOURCE: runc cannot set a negative
#   oom_score_adj, every sandbox failed) and disable_apparmor;
# - a CNI conflist with only `loopback`: the runtime reports NetworkReady, and pods are
#   `hostNetwork: true` on 127.0.0.1 ports (no bridge, no iptables);
# - kubelet 1.35 with containerd 1.6: cgroupDriver cgroupfs, failCgroupV1 false (cgroup v1
#   hosts), its API on 127.0.0.1 with anonymous access and AlwaysAllow (loopback only: the API
#   server has no kubelet client certificate), no node IP flag (loopback is refused; the
#   hostname must resolve to 127.0.0.1), image garbage collection and eviction off (images are
#   imported, never pulled: `imagePullPolicy: Never`);
# - the controller manager runs the nodelifecycle controller, which lifts the not-ready taint.
#
# One node per machine: the kubelet also uses host-wide places (kubepods cgroups,
# /var/log/containers, /var/lib/kubelet/device-plugins, /run/containerd/s). A lock
# (/tmp/chaosrun-kube-node.lock, held by containerd's process) makes a second node wait for
# the first to stop. node_down stops everything by PID (shims and containers found through
# /proc, as children of the shims that name DIR's containerd socket), unmounts what is
# mounted under DIR, and removes what the node left in those host-wide places.
# Environment: KUBE_NODE_IMAGES: docker-archive tars to import after start (space-separated).

NODE_LOCK=/tmp/chaosrun-kube-node.lock
PAUSE_IMAGE=chaosrun.local/pause:1

node_check() {  # fail early, naming what to install
  local missing=()
  for b in containerd runc ctr; do command -v "$b" >/dev/null 2>&1 || missing+=("$b"); done
  [ -x /usr/lib/cni/loopback ] || missing+=("/usr/lib/cni/loopback")
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "error: the node needs ${missing[*]}: apt-get install containerd runc containernetworking-plugins" >&2
    exit 1
  fi
  for name in kubelet kube-scheduler pause; do
    [ -x "$bindir/$name" ] || { echo "error: $bindir/$name is missing: run scripts/install-kube.sh first" >&2; exit 1; }
  done
  command -v flock >/dev/null 2>&1 || { echo "error: the node needs flock (util-linux)" >&2; exit 1; }
}

node_ctr() {  # ctr against DIR's containerd, namespace k8s.io
  ctr --address "$dir/node/containerd.sock" --namespace k8s.io "$@"
}

node_up() {  # $1: state dir (the control plane is up; $token, $url set)
  local n="$1/node" host kubelet_port healthz_port sched_port t0 i
  rm -rf "$n"
  mkdir -p "$n/cni" "$n/pod-logs" "$n/kubelet"
  host="$(hostname | tr '[:upper:]' '[:lower:]')"
  if ! python3 -c 'import socket, sys; sys.exit(socket.gethostbyname(sys.argv[1]) != "127.0.0.1")' "$host" 2>/dev/null; then
    echo "error: the node's hostname $host must resolve to 127.0.0.1 (add it to /etc/hosts)" >&2; exit 1
  fi
  read -r kubelet_port healthz_port sched_port < <(free_ports 3)
  printf 'kubelet %s\nkubelet-healthz %s\nkube-scheduler %s\n' "$kubelet_port" "$healthz_port" "$sched_port" >>"$1/ports"

  # One node per machine: wait for another one to stop (bounded).
  exec 9>>"$NODE_LOCK"
  t0=$SECONDS
  if ! flock -w "$timeout" 9; then
    echo "error: another node runs on this machine (lock $NODE_LOCK held for $timeout s)" >&2; exit 1
  fi
  [ $((SECONDS - t0)) -lt 2 ] || log "waited $((SECONDS - t0)) s for another node to stop"
  node_clean_host "$1"  # what a node killed without its tear-down may have left

  cat >"$n/config.toml" <<EOF
version = 2
root = "$n/root"
state = "$n/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$n/containerd.sock"
[ttrpc]
  address = "$n/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$n/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$n/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = "$n/runc"
EOF
  cat >"$n/cni/10-loopback.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "chaosrun-loopback", "plugins": [{"type": "loopback"}]}
EOF
  # containerd inherits the lock (fd 9) and holds it while it runs; nothing else does.
  "$(command -v containerd)" --config="$n/config.toml" >"$1/containerd.log" 2>&1 </dev/null &
  echo "containerd $!" >>"$1/pids"
  exec 9>&-
  for i in $(seq 1 $((timeout * 10))); do
    node_ctr version >/dev/null 2>&1 && break
    kill -0 "$(awk '$1 == "containerd" {print $2}' "$1/pids")" 2>/dev/null || break
    sleep 0.1
  done
  node_ctr version >/dev/null 2>&1 || { tail -n 30 "$1/containerd.log" >&2; echo "error: containerd did not start (log: $1/containerd.log)" >&2; exit 1; }
  log "containerd ready after $((SECONDS - t0)) s"

  mkdir -p "$n/pause-rootfs" && cp "$bindir/pause" "$n/pause-rootfs/pause"
  python3 "$root/scripts/image-archive.py" "$n/pause.tar" --name "$PAUSE_IMAGE" --layer "$n/pause-rootfs" \
    --entrypoint '["/pause"]'
  local image
  for image in "$n/pause.tar" ${KUBE_NODE_IMAGES:-}; do
    node_ctr images import "$image" >/dev/null 2>>"$1/containerd.log" \
      || { echo "error: ctr images import $image failed (log: $1/containerd.log)" >&2; exit 1; }
  done

  cat >"$n/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$n/containerd.sock
podLogsDir: $n/pod-logs
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
resolvConf: ""
EOF
  start kubelet --config="$n/kubelet.yaml" --kubeconfig="$1/kubeconfig" --root-dir="$n/kubelet" --cert-dir="$n/kubelet/pki"
  wait_ready kubelet "kubelet healthy" "http://127.0.0.1:$healthz_port/healthz"

  start kube-scheduler \
    --kubeconfig="$1/kubeconfig" \
    --authentication-kubeconfig="$1/kubeconfig" --authorization-kubeconfig="$1/kubeconfig" \
    --authentication-skip-lookup=true \
    --bind-address=127.0.0.1 --secure-port="$sched_port" --cert-dir="$1/certs/scheduler" \
    --leader-elect=false
  wait_ready kube-scheduler "kube-scheduler healthy" -k "https://127.0.0.1:$sched_port/healthz"

  # Ready, and the not-ready taint lifted (nodelifecycle), so pods can be scheduled.
  t0=$SECONDS
  for i in $(seq 1 $((timeout * 4))); do
    if curl -s --max-time 2 --cacert "$1/ca.crt" -H "Authorization: Bearer $token" "$url/api/v1/nodes/$host" \
       | python3 -c '
import json, sys
node = json.load(sys.stdin)
ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))
tainted = any(t["key"].startswith("node.kubernetes.io/") for t in node.get("spec", {}).get("taints") or [])
sys.exit(0 if ready and not tainted else 1)' 2>/dev/null; then
      log "node $host Ready and schedulable after $((SECONDS - t0)) s"
      echo "$host" >"$1/node-name"
      return 0
    fi
    [ $((SECONDS - t0)) -lt "$timeout" ] || break
    sleep 0.25
  done
  tail -n 30 "$1/kubelet.log" >&2
  echo "error: node $host not Ready within $timeout s (kubelet log: $1/kubelet.log)" >&2; exit 1
}

node_descendants() {  # $1: pid -> its descendants, children first
  local kids k
  kids="$(awk -v p="$1" '{ if ($4 == p) print $1 }' /proc/[0-9]*/stat 2>/dev/null)" || true
  for k in $kids; do node_descendants "$k"; echo "$k"; done
}

node_shims() {  # $1: state dir -> pids of containerd shims started by DIR's containerd
  local p cmd
  for p in /proc/[0-9]*; do
    cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
    case "$cmd" in *containerd-shim*"-address $1/node/containerd.sock "*) echo "${p#/proc/}" ;; esac
  done
}

node_stop() {  # $1: name, $2: state dir; TERM then KILL after 15 s
  local pid i
  pid="$(awk -v n="$1" '$1 == n {print $2}' "$2/pids")"
  [ -n "$pid" ] || return 0
  is_ours "$pid" "$1" "$2" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do is_ours "$pid" "$1" "$2" || break; sleep 0.1; done
  if is_ours "$pid" "$1" "$2"; then log "$1 (pid $pid) ignored TERM for 15 s; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  log "stopped $1 (pid $pid)"
}

node_down() {  # $1: state dir
  local shim pid
  node_stop kube-scheduler "$1"
  node_stop kubelet "$1"
  # Containers outlive the kubelet and containerd (their shims are separate processes).
  for shim in $(node_shims "$1"); do
    for pid in $(node_descendants "$shim"); do kill -KILL "$pid" 2>/dev/null || true; done
    kill -KILL "$shim" 2>/dev/null || true
  done
  node_stop containerd "$1"
  node_clean_host "$1"
}

node_clean_host() {  # $1: state dir. Removes what the node leaves outside DIR (we hold the lock or are done).
  local m
  # mounts under DIR (container root filesystems, sandbox shm, pod volumes), deepest first
  awk -v d="$1/node/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  # cgroups of pods (cgroupfs driver: /kubepods/... in every hierarchy), deepest first
  find /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods -depth -type d -exec rmdir {} \; 2>/dev/null || true
  # container log links that point into this node's folder, and the kubelet's host-wide sockets
  find /var/log/containers -maxdepth 1 -type l -lname "$1/node/*" -delete 2>/dev/null || true
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/pod-resources/kubelet.sock 2>/dev/null || true
  rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet/pod-resources /var/lib/kubelet 2>/dev/null || true  # when empty
  # shim sockets no process holds (only one node runs at a time: these were a node's)
  if [ -d /run/containerd/s ]; then
    for m in /run/containerd/s/*; do
      [ -S "$m" ] || continue
      grep -q " ${m}\$" /proc/net/unix 2>/dev/null || rm -f "$m"
    done
  fi
  rmdir /run/containerd/s /run/containerd /var/log/containers 2>/dev/null || true  # when empty
}
