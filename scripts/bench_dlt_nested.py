#!/usr/bin/env python3
"""Loads a nested JSON Lines file into PostgreSQL with dlt (child tables), the peer for
scripts/bench_nested.sh.

    .venv-bench/bin/python scripts/bench_dlt_nested.py FILE POSTGRES_URL [--dataset bench_dlt_nested]

A plain generator (json.loads per line, pages of 10,000), dlt's defaults (its normalizer makes
events__payload__commits; insert_values loader). Prints the rows per table and the seconds.
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
    ap.add_argument("--dataset", default="bench_dlt_nested")
    ap.add_argument("--pipelines-dir", default="bench-data/dlt-nested-pipelines")
    a = ap.parse_args()
    shutil.rmtree(a.pipelines_dir, ignore_errors=True)
    url = urlsplit(a.url)
    if url.password is None and url.username:
        url = url._replace(netloc=f"{url.username}:bench@{url.hostname}:{url.port}")
    url = urlunsplit(url._replace(scheme="postgresql", query=""))
    t0 = time.perf_counter()

    @dlt.resource(name="events", write_disposition="append")
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
        pipeline_name="mend_bench_dlt_nested",
        pipelines_dir=os.path.abspath(a.pipelines_dir),
        destination=dlt.destinations.postgres(credentials=url),
        dataset_name=a.dataset,
    )
    info = pipeline.run(events())
    seconds = time.perf_counter() - t0
    counts = pipeline.last_trace.last_normalize_info.row_counts
    rows = {k: v for k, v in counts.items() if not k.startswith("_dlt")}
    print(f"dlt: {rows} in {seconds:.2f}s ({rows.get('events', 0) / seconds:.0f} records/s)")
    if info.has_failed_jobs:
        print(info, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
