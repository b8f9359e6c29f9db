"""Independent reader for the parquetize tests: read a Parquet file with
pyarrow and print one JSON array per row, every value rendered in the
canonical text the tests compare with PostgreSQL:

  integers, text, uuid, json   as text        booleans      t / f
  decimals                     plain digits   dates         days since 1970-01-01
  timestamps, times            microseconds   bytea         lower-case hex
  floats                       repr()         lists         JSON text

The first line is a JSON object describing the file: column types as
pyarrow sees them, Parquet logical types, key-value metadata, row groups.
"""
import json
import sys
import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def render_scalar(v, t):
    if v is None:
        return None
    if pa.types.is_boolean(t):
        return "t" if v else "f"
    if pa.types.is_decimal(t):
        return format(v, "f")
    if pa.types.is_fixed_size_binary(t) or isinstance(t, pa.ExtensionType):
        return str(uuid.UUID(bytes=bytes(v)))
    if pa.types.is_binary(t):
        return bytes(v).hex()
    if pa.types.is_floating(t):
        return repr(float(v))
    return str(v)


def json_scalar(v, t):
    if v is None:
        return None
    if pa.types.is_integer(t):
        return int(v)
    if pa.types.is_boolean(t):
        return bool(v)
    return render_scalar(v, t)


def column_values(col):
    t = col.type
    if isinstance(t, pa.ExtensionType):
        col = col.cast(t.storage_type) if hasattr(col, "cast") else col.storage
        t = t.storage_type
    if pa.types.is_timestamp(t) or pa.types.is_time64(t):
        return [None if v is None else str(v) for v in pc.cast(col, pa.int64()).to_pylist()]
    if pa.types.is_date32(t):
        return [None if v is None else str(v) for v in pc.cast(col, pa.int32()).to_pylist()]
    if pa.types.is_list(t):
        et = t.value_type
        return [
            None if v is None else json.dumps([json_scalar(e, et) for e in v], separators=(",", ":"), ensure_ascii=False)
            for v in col.to_pylist()
        ]
    if pa.types.is_fixed_size_binary(t):
        return [None if v is None else str(uuid.UUID(bytes=v)) for v in col.to_pylist()]
    return [render_scalar(v, t) for v in col.to_pylist()]


def main(path):
    # Page checksums are checked: parquetize writes a CRC in every page header.
    f = pq.ParquetFile(path, page_checksum_verification=True)
    table = f.read()
    schema = f.schema
    info = {
        "types": {fld.name: str(fld.type) for fld in table.schema},
        "logical": {schema.column(i).name: str(schema.column(i).logical_type) for i in range(len(schema))},
        "metadata": {k.decode(): v.decode() for k, v in (f.metadata.metadata or {}).items() if k != b"ARROW:schema"},
        "row_groups": f.metadata.num_row_groups,
        "rows": f.metadata.num_rows,
        "codec": f.metadata.row_group(0).column(0).compression if f.metadata.num_row_groups else None,
        "encodings": {
            f.metadata.row_group(0).column(i).path_in_schema: list(f.metadata.row_group(0).column(i).encodings)
            for i in range(f.metadata.num_columns)
        }
        if f.metadata.num_row_groups
        else {},
    }
    out = sys.stdout
    out.write(json.dumps(info) + "\n")
    cols = []
    for i in range(table.num_columns):
        col = table.column(i).combine_chunks() if table.num_rows else table.column(i)
        if isinstance(col, pa.ChunkedArray):
            col = pa.concat_arrays(col.chunks) if col.num_chunks else pa.array([], type=col.type)
        if isinstance(col, pa.ExtensionArray):
            col = col.storage
        cols.append(column_values(col))
    for r in range(table.num_rows):
        out.write(json.dumps([c[r] for c in cols], ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
