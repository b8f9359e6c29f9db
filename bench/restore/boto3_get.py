"""The boto3 peer: list a prefix, then `download_file` every object into DIR
(default TransferConfig: ranged GETs on 10 threads above 8 MB), either in a
plain loop (THREADS=1) or from a thread pool. No verification here: the
benchmark runs `sha256sum -c` afterwards, as for the aws CLI.

    python3 boto3_get.py s3://bucket/prefix DIR THREADS
(endpoint from AWS_ENDPOINT_URL)
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3


def main() -> None:
    url, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]

    def one(key: str) -> None:
        dest = os.path.join(out, key[len(prefix) :])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        s3.download_file(bucket, key, dest)

    if threads == 1:
        for k in keys:
            one(k)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, keys))
    print(f"{len(keys)} objects")


if __name__ == "__main__":
    main()
