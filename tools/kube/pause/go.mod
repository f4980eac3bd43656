// The node's sandbox ("pause") program: a static binary that waits for SIGTERM/SIGINT.
// Built by scripts/install-kube.sh into .tools/bin/pause; scripts/kube-up.sh --node wraps
// it in a one-layer image named as containerd's sandbox_image.
module chaosrun/tools/kube/pause

go 1.25.0
