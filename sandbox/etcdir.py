"""The curated, read-only /etc the agent sees (generated per run; nothing else of host /etc)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
AGENT_HOME = "/home/agent"


def build_etc(dest: Path, *, uid: int, gid: int, proxy_ca: Path | None,
              preload: str | None, source_etc: Path = Path("/etc")) -> None:
    """Write the sandbox /etc into dest.

    source_etc is where the dynamic-loader files come from: host /etc, or the
    user rootfs's etc when one is given (its ld.so.cache must match its libs).
    """
    dest.mkdir(parents=True)
    (dest / "passwd").write_text(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"agent:x:{uid}:{gid}:agent:{AGENT_HOME}:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (dest / "group").write_text(f"root:x:0:\nagent:x:{gid}:\nnogroup:x:65534:\n")
    (dest / "hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
    (dest / "hostname").write_text("sandbox\n")
    # No "dns": names resolve only via the proxy on the host (fail closed).
    (dest / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files\n")
    (dest / "resolv.conf").write_text("")
    for name in ("ld.so.cache", "ld.so.conf"):
        if (source_etc / name).is_file():
            shutil.copyfile(source_etc / name, dest / name)
    if (source_etc / "ld.so.conf.d").is_dir():
        shutil.copytree(source_etc / "ld.so.conf.d", dest / "ld.so.conf.d")
    # Debian's /usr/bin/{awk,editor,...} are symlinks through /etc/alternatives.
    alt = source_etc / "alternatives"
    if alt.is_dir():
        (dest / "alternatives").mkdir()
        for entry in os.scandir(alt):
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), dest / "alternatives" / entry.name)
    if proxy_ca is not None:
        certs = dest / "ssl" / "certs"
        certs.mkdir(parents=True)
        # Only the audit proxy's CA: TLS that bypasses the proxy cannot verify.
        shutil.copyfile(proxy_ca, certs / "ca-certificates.crt")
    if preload is not None:
        (dest / "ld.so.preload").write_text(preload + "\n")
    for p in dest.rglob("*"):
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    dest.chmod(0o755)
