"""Reads the Parquet files of `strata replay --format parquet` with pyarrow,
an independent reader, and prints what they hold as JSON lines for the Go
test (cmd/strata replay_parquet_test.go) to compare with what a consumer
read through a gateway.

    check_parquet.py DIR
    check_parquet.py s3://BUCKET/PREFIX ENDPOINT   (credentials from AWS_* variables)
    check_parquet.py --iceberg METADATA_URI [ENDPOINT]

With --iceberg it scans the Iceberg table whose metadata file is given with
pyiceberg instead, and the first line also has "snapshots".

First line: {"files": N, "codecs": [...], "columns": [...]}; then one line
per row: partition, offset, ts (Unix ms), key (hex or null), value (SHA-256
hex of the bytes, or the decoded value as JSON), value_schema_id if there,
headers as [key, hex value] pairs.
"""
import datetime
import hashlib
import json
import os
import sys

import pyarrow.fs as pafs
import pyarrow.parquet as pq


def plain(v):
    if isinstance(v, datetime.datetime):
        return int(v.timestamp() * 1000)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, tuple):
        return [plain(x) for x in v]
    return v


def row_of(r, fname):
    out = {
        "file": fname,
        "topic": r["topic"],
        "partition": r["partition"],
        "offset": r["offset"],
        "ts": plain(r["timestamp"]),
        "key": None if r["key"] is None else r["key"].hex(),
        "headers": [[h["key"], None if h["value"] is None else h["value"].hex()] for h in r["headers"]],
    }
    if "value_schema_id" in r:
        out["value"] = plain(r["value"])
        out["value_schema_id"] = r["value_schema_id"]
    else:
        out["value"] = None if r["value"] is None else hashlib.sha256(r["value"]).hexdigest()
    return out


def s3_props(endpoint):
    return {
        "s3.endpoint": endpoint,
        "s3.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
        "s3.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"],
        "s3.region": os.environ.get("AWS_REGION", "us-east-1"),
    }


def iceberg(metadata, endpoint):
    from pyiceberg.table import StaticTable
    props = s3_props(endpoint) if endpoint else {}
    tbl = StaticTable.from_metadata(metadata, properties=props)
    t = tbl.scan().to_arrow()
    files = len(list(tbl.scan().plan_files()))
    print(json.dumps({"files": files, "codecs": [], "columns": t.schema.names,
                      "snapshots": len(tbl.metadata.snapshots)}))
    for r in t.to_pylist():
        print(json.dumps(row_of(r, "")))


def main():
    target = sys.argv[1]
    if target == "--iceberg":
        iceberg(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
        return
    if target.startswith("s3://"):
        endpoint = sys.argv[2]
        scheme, _, host = endpoint.partition("://")
        fs = pafs.S3FileSystem(
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            endpoint_override=host, scheme=scheme,
            region=os.environ.get("AWS_REGION", "us-east-1"))
        base = target[len("s3://"):].rstrip("/")
    else:
        fs = pafs.LocalFileSystem()
        base = os.path.abspath(target)
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    paths = sorted(i.path for i in infos
                   if i.type == pafs.FileType.File and i.path.endswith(".parquet")
                   and "/.strata-tmp/" not in i.path)
    codecs, columns, rows = set(), None, []
    for p in paths:
        f = pq.ParquetFile(p, filesystem=fs)
        md = f.metadata
        for g in range(md.num_row_groups):
            for c in range(md.num_columns):
                codecs.add(md.row_group(g).column(c).compression)
        t = f.read()
        columns = t.schema.names
        rows.extend(row_of(r, p.rsplit("/", 1)[-1]) for r in t.to_pylist())
    print(json.dumps({"files": len(paths), "codecs": sorted(codecs), "columns": columns}))
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
