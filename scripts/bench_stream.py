#!/usr/bin/env python3
"""Streaming `keystead encrypt` / `decrypt` of a large file on keystead's token, against a
plain in-process loop sealing the same 1 MiB chunks with cryptography's AESGCM and writing
them, in the same run with the page cache warm. Every timed phase starts with its input in
the page cache, the plaintext of other phases dropped from it (so each phase's footprint is
its input and its output) and no writeback pending, and ends with its output synced to disk
(keystead syncs before it renames its output into place; the loops sync too).

    scripts/bench_stream.py [--gib 4 | --mib N] [--dir DIR] [--runs N] [--json] [--keep]

Each `keystead` command runs as its own process under /usr/bin/time -v (peak RSS, user and
system CPU); the baseline runs in this process (its CPU from getrusage). Prints one table
(wall and CPU, each against the baseline, and the load average) and, with --json, the
figures as JSON. Needs the `keystead` command (pip install .) and about 3x the file size of
free space in --dir: on a shared disk the phases that write run at the disk's pace, so
``--dir /dev/shm`` (RAM) measures the processing alone (docs/manager.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 1 << 20
PIN, SO_PIN, MANAGER_PIN = "bench-user-1234", "bench-so-1234", "bench-manager-1234"


def keystead_exe() -> str:
    exe = shutil.which("keystead") or str(Path(sys.executable).parent / "keystead")
    if not Path(exe).exists():
        sys.exit("bench_stream: the `keystead` command is not installed (pip install .)")
    return exe


def make_input(path: Path, size: int) -> None:
    block = os.urandom(64 * CHUNK)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def warm(path: Path) -> str:
    """Read the file into the page cache; return its SHA-256."""
    buf = bytearray(16 * CHUNK)
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(memoryview(buf)[:n])
    return digest.hexdigest()


def cold(path: Path) -> None:
    """Drop ``path``'s (clean) pages from the page cache, so that a phase holds its own input
    and output there and nothing else: decrypting while the plaintext of the encryption
    phases is still cached makes the kernel reclaim pages while it writes, which costs the
    writer CPU time that the sealing loop never paid."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def baseline(src: Path, dst: Path, key: bytes) -> tuple[float, float]:
    """(wall, CPU) seconds to read, seal (AESGCM, 96-bit counter nonces) and write every
    chunk."""
    aead = AESGCM(key)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    start, cpu = time.perf_counter(), _cpu()
    with open(src, "rb", buffering=0) as f, open(dst, "wb") as out:
        i = 0
        while True:
            n = f.readinto(buf)
            if not n:
                break
            out.write(aead.encrypt(i.to_bytes(12, "big"), view[:n], b"bench"))
            i += 1
        out.flush()
        os.fsync(out.fileno())  # as keystead does before it renames its output
    return time.perf_counter() - start, _cpu() - cpu


def baseline_open(src: Path, dst: Path, key: bytes) -> tuple[float, float]:
    """(wall, CPU) seconds to read, open (AESGCM) and write every chunk :func:`baseline`
    sealed."""
    aead = AESGCM(key)
    buf = bytearray(CHUNK + 16)
    view = memoryview(buf)
    start, cpu = time.perf_counter(), _cpu()
    with open(src, "rb", buffering=0) as f, open(dst, "wb") as out:
        i = 0
        while True:
            n = f.readinto(buf)
            if not n:
                break
            out.write(aead.decrypt(i.to_bytes(12, "big"), view[:n], b"bench"))
            i += 1
        out.flush()
        os.fsync(out.fileno())
    return time.perf_counter() - start, _cpu() - cpu


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in bytes) of one command under /usr/bin/time
    -v."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench_stream: {' '.join(cmd[1:3])} failed: {proc.stderr.strip()[-400:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([0-9.]+)",
                                            proc.stderr))
    return wall, cpu, int(rss.group(1)) * 1024 if rss else -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=4.0, help="file size in GiB [4]")
    ap.add_argument("--mib", type=float, default=None, help="file size in MiB (instead)")
    ap.add_argument("--dir", type=Path, default=None, help="work directory [a temp dir]")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--runs", type=int, default=1, help="rounds; best of each figure [1]")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ks-stream-", dir=args.dir))
    exe = keystead_exe()
    size = int(args.mib * (1 << 20) if args.mib is not None else args.gib * (1 << 30))
    try:
        (work / "tokens").mkdir()
        conf = work / "keystead.conf"
        conf.write_text(f"token_dir = {work / 'tokens'}\n")
        env = {**os.environ, "KEYSTEAD_CONF": str(conf), "KEYSTEAD_PIN": PIN,
               "KEYSTEAD_SO_PIN": SO_PIN, "KEYSTEAD_MANAGER_PIN": MANAGER_PIN,
               "KEYSTEAD_CATALOGUE": str(work / "catalogue.db"),
               "KEYSTEAD_TOKEN": "bench"}
        steps = [["token", "init"], ["key", "create", "bench/dek"]]
        if subprocess.run([exe, "init", "--help"], env=env, capture_output=True,
                          check=False).returncode == 0:  # catalogues made by `keystead init`
            steps.insert(0, ["init"])
        for cmd in steps:
            done = subprocess.run([exe, *cmd], env=env, capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                sys.exit(f"bench_stream: keystead {' '.join(cmd)}: {done.stderr.strip()}")
        plain, sealed, back = work / "plain", work / "sealed.kss", work / "back"
        make_input(plain, size)
        want = warm(plain)
        runs: list[dict[str, tuple[float, float, int | None]]] = []
        same = True
        for _ in range(args.runs):  # interleaved rounds; each figure is its best round
            os.sync()  # each timed phase starts with no writeback pending from the last
            warm(plain)
            key = AESGCM.generate_key(256)
            base = baseline(plain, work / "baseline.out", key)
            warm(work / "baseline.out")
            os.sync()
            cold(plain)  # each phase: its input warm, its output, nothing else
            base_open = baseline_open(work / "baseline.out", work / "baseline.back", key)
            (work / "baseline.out").unlink()
            (work / "baseline.back").unlink()
            os.sync()
            warm(plain)
            enc = timed([exe, "encrypt", "bench/dek", "--in", str(plain), "--out",
                         str(sealed)], env)
            warm(sealed)
            os.sync()
            cold(plain)
            dec = timed([exe, "decrypt", "--in", str(sealed), "--out", str(back)], env)
            same = same and warm(back) == want
            back.unlink()
            runs.append({"baseline (AESGCM sealing loop, in process)": (*base, None),
                         "keystead encrypt": enc, "keystead decrypt": dec,
                         "AESGCM opening loop, in process (reference)": (*base_open, None)})
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        # each figure: its best round (wall and CPU apart: the load varies within a round)
        best = {name: (min(r[name][0] for r in runs), min(r[name][1] for r in runs),
                       max((r[name][2] for r in runs), key=lambda x: x or 0))
                for name in runs[0]}
        base_wall, base_cpu, _ = best["baseline (AESGCM sealing loop, in process)"]
        mib = size / (1 << 20)
        print(f"{mib:.0f} MiB, 1 MiB chunks, best of {args.runs}; load average {load} "
              f"(at the end); work directory {work.parent}")
        print("| phase | wall s | MiB/s | vs baseline (wall) | CPU s | vs baseline (CPU) "
              "| peak RSS |")
        print("|---|---|---|---|---|---|---|")
        figures = {}
        for name, (secs, cpu, rss) in best.items():
            rss_text = "-" if rss is None else f"{rss / (1 << 20):.1f} MiB"
            print(f"| {name} | {secs:.2f} | {mib / secs:.0f} | {base_wall / secs:.2f}x | "
                  f"{cpu:.2f} | {base_cpu / cpu if cpu else 0:.2f}x | {rss_text} |")
            figures[name] = {"seconds": secs, "mib_per_s": mib / secs,
                             "vs_baseline": base_wall / secs, "cpu_seconds": cpu,
                             "vs_baseline_cpu": base_cpu / cpu if cpu else None,
                             "peak_rss_bytes": rss}
        print(f"round trip identical: {same}")
        if args.json:
            print(json.dumps({"bytes": size, "figures": figures, "identical": same,
                              "loadavg": os.getloadavg()}))
        if not same:
            sys.exit(1)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
