#!/usr/bin/env python3
"""Write a container image as a docker-archive tar (no Docker engine, no registry).

    image-archive.py OUT.tar --name NAME:TAG --layer PATH [--layer PATH ...]
                     [--entrypoint JSON-LIST] [--cmd JSON-LIST] [--env K=V ...] [--workdir DIR]

Each --layer is a directory (archived with owners and modes as they are) or an existing layer
tar, bottom layer first. The result has manifest.json, one config JSON and the layer tars: what
`ctr -n k8s.io images import OUT.tar` loads (then pods use `imagePullPolicy: Never`).
Standard library only: scripts/kube-up.sh and scripts/build-agent-image.sh call it with python3.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path


def _layer_tar(source: Path, scratch: Path, index: int) -> Path:
    if source.is_file():
        return source
    if not source.is_dir():
        sys.exit(f"image-archive: layer {source} is neither a directory nor a tar file")
    out = scratch / f"layer{index}.tar"
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(source.iterdir()):
            tar.add(entry, arcname=entry.name, recursive=True)
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--layer", type=Path, action="append", required=True)
    parser.add_argument("--entrypoint", type=json.loads, default=None)
    parser.add_argument("--cmd", type=json.loads, default=None)
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--workdir", default="/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.out.parent) as tmp:
        scratch = Path(tmp)
        layers = [_layer_tar(src, scratch, i) for i, src in enumerate(args.layer)]
        diff_ids = [f"sha256:{_sha256(p)}" for p in layers]
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *args.env],
                "Entrypoint": args.entrypoint,
                "Cmd": args.cmd,
                "WorkingDir": args.workdir,
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        names = [f"{d.removeprefix('sha256:')}/layer.tar" for d in diff_ids]
        manifest = [{"Config": config_name, "RepoTags": [args.name], "Layers": names}]
        partial = args.out.with_name(args.out.name + ".part")
        with tarfile.open(partial, "w") as tar:
            for data, name in ((config_bytes, config_name), (json.dumps(manifest).encode(), "manifest.json")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            for path, name in zip(layers, names, strict=True):
                tar.add(path, arcname=name)
        os.replace(partial, args.out)


if __name__ == "__main__":
    main()
