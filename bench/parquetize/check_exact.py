"""Compare every value of every column of the peers' Parquet files with
parquetize's (which the test suite checks value by value against
PostgreSQL itself). Prints one JSON object per peer: per column, how many
values differ, with one example.

  python3 check_exact.py REPORT.ndjson OURS.parquet PEER_NAME=PEER.parquet ...

Writes the JSON objects to REPORT.ndjson and a readable summary to stdout.
"""
import datetime
import decimal
import json
import sys
import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def canonical(col):
    """Values in a form two correct files agree on, whatever types they chose."""
    t = col.type
    if isinstance(t, pa.ExtensionType):
        col = col.storage
        t = t.storage_type
    if pa.types.is_timestamp(t):
        return pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
    if pa.types.is_date32(t):
        return pc.cast(col, pa.int32()).to_pylist()
    vals = col.to_pylist()
    out = []
    for v in vals:
        if v is None:
            out.append(None)
        elif isinstance(v, bytes) and len(v) == 16:
            out.append(str(uuid.UUID(bytes=v)))
        elif isinstance(v, uuid.UUID):
            out.append(str(v))
        elif isinstance(v, float):
            # The exact binary value of the float, so 0.1 != Decimal('0.1').
            out.append(decimal.Decimal(v).normalize())
        elif isinstance(v, decimal.Decimal):
            out.append(v.normalize())
        elif isinstance(v, str) and pa.types.is_string(t) and v[:1].isdigit() and v.replace(".", "", 1).isdigit():
            out.append(decimal.Decimal(v).normalize())
        elif isinstance(v, (int, bool, str)):
            out.append(v)
        elif isinstance(v, datetime.datetime):
            out.append(int(v.timestamp() * 1_000_000))
        else:
            out.append(v)
    return out


def main():
    report_file = open(sys.argv[1], "w")
    ours = pq.read_table(sys.argv[2])
    for spec in sys.argv[3:]:
        name, path = spec.split("=", 1)
        peer = pq.read_table(path)
        report = {"peer": name, "rows": peer.num_rows, "columns": {}}
        for field in ours.schema:
            if field.name not in peer.column_names:
                report["columns"][field.name] = {"missing": True}
                continue
            a = canonical(ours.column(field.name).combine_chunks())
            b = canonical(peer.column(field.name).combine_chunks())
            diffs = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y and not (x is True and y == 't')]
            entry = {"type": str(peer.schema.field(field.name).type), "differ": len(diffs)}
            if diffs:
                i, x, y = diffs[0]
                entry["example"] = {"row": i, "exact": str(x), "peer": str(y)}
            report["columns"][field.name] = entry
        report["values_differing"] = sum(c.get("differ", 0) for c in report["columns"].values())
        report_file.write(json.dumps(report) + "\n")
        print(f"  {name}: {report['values_differing']} values differ")
        for col, c in report["columns"].items():
            if c.get("differ"):
                ex = c["example"]
                print(f"    {col:15} {c['type']:28} {c['differ']:>8}  e.g. row {ex['row']}: exact {ex['exact']!r}, peer {ex['peer']!r}")


main()
