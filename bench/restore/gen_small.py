"""Many small files shaped like a month of per-user day files:
DIR/user-NNN/2026/11/DD/conversations.json, N files of about KB kilobytes
(sizes spread over 0.5x-1.5x), deterministic content (seeded), so a rerun
makes the same bytes.

    python3 gen_small.py DIR N KB
"""

import os
import random
import sys


def main() -> None:
    root, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rnd = random.Random(42)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 "
    blob = bytes(rnd.choice(alphabet) for _ in range(max(64 * 1024, kb * 3 * 1024)))
    for i in range(n):
        user, day = divmod(i, 30)
        d = os.path.join(root, f"user-{user:03d}", "2026", "11", f"{day + 1:02d}")
        os.makedirs(d, exist_ok=True)
        size = rnd.randint(kb * 512, kb * 1536)
        off = rnd.randint(0, len(blob) - size - 1)
        body = b'{"user":"user-%03d","day":%d,"text":"' % (user, day + 1)
        body += blob[off : off + size] + b'"}\n'
        with open(os.path.join(d, "conversations.json"), "wb") as f:
            f.write(body)


if __name__ == "__main__":
    main()
