#!/usr/bin/env python3
"""Loads a JSON Lines file into PostgreSQL with dlt, as the peer for `make bench`.

    .venv-bench/bin/python scripts/bench_dlt.py FILE POSTGRES_URL [--table events] [--dataset bench_dlt]
                                               [--pipelines-dir DIR]

Reads FILE with a plain generator (json.loads per line, yielded in pages of 10,000 records),
runs dlt's extract → normalize → load with its default file format for postgres, into the
dataset (schema) bench_dlt, table events. The caller drops the dataset beforehand; the
pipeline's local state lives under --pipelines-dir, which this script wipes first so every
run starts fresh. Prints the record count and the seconds it took.
"""
import argparse
import json
import os
import shutil
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import dlt

PAGE = 10_000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("url")
    ap.add_argument("--table", default="events")
    ap.add_argument("--dataset", default="bench_dlt")
    ap.add_argument("--pipelines-dir", default="bench-data/dlt-pipelines")
    a = ap.parse_args()

    shutil.rmtree(a.pipelines_dir, ignore_errors=True)
    # dlt insists on a password; the throwaway cluster trusts loopback, so any will do.
    url = urlsplit(a.url)
    if url.password is None and url.username:
        url = url._replace(netloc=f"{url.username}:bench@{url.hostname}:{url.port}")
    url = urlunsplit(url._replace(scheme="postgresql"))
    t0 = time.perf_counter()

    # The same column types as the other targets; dlt infers the rest the same way anyway.
    @dlt.resource(name=a.table, write_disposition="append",
                  columns={"ts": {"data_type": "timestamp"}, "amount": {"data_type": "double"}})
    def events():
        page = []
        with open(a.file, "rb") as f:
            for line in f:
                page.append(json.loads(line))
                if len(page) == PAGE:
                    yield page
                    page = []
        if page:
            yield page

    pipeline = dlt.pipeline(
        pipeline_name="mend_bench_dlt",
        pipelines_dir=os.path.abspath(a.pipelines_dir),
        destination=dlt.destinations.postgres(credentials=url),
        dataset_name=a.dataset,
    )
    info = pipeline.run(events())
    seconds = time.perf_counter() - t0
    n = pipeline.last_trace.last_normalize_info.row_counts.get(a.table, 0)
    print(f"dlt: {n} rows into {a.dataset}.{a.table} in {seconds:.2f}s ({n / seconds:.0f} records/s)")
    if info.has_failed_jobs:
        print(info, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
