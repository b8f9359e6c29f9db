"""The durable-write floor for a restored tree: write every file of SRC
(same relative paths and sizes, bytes already in memory, no network, no
hashing) into OUT the way restore commits a file: a temporary, fsync,
rename, fsync of the directory. THREADS writers at once, so the figure for
2 threads vs 8 shows how much overlapping fsyncs buys on this disk.

    python3 fsync_floor.py SRC OUT THREADS
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor


def main() -> None:
    src, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    files = []
    for dirpath, _, names in os.walk(src):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                files.append((os.path.relpath(p, src), f.read()))

    def one(item: tuple[str, bytes]) -> None:
        rel, data = item
        dest = os.path.join(out, rel)
        d = os.path.dirname(dest)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, f".{os.path.basename(dest)}.tmp-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, dest)
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    import time

    t0 = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, files))
    print(f"{len(files)} files in {time.monotonic() - t0:.2f} s (writing only)")


if __name__ == "__main__":
    main()
