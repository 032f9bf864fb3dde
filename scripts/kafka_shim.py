#!/usr/bin/env python3
"""A test-only loopback proxy in front of Tansu for librdkafka 2.0.2 (Debian's).

librdkafka before 2.2.0 misreads non-empty tagged fields in an ApiVersions v3+ response
(librdkafka issue #4253: "ApiVersionRequest failed: Local: Read underflow"). Tansu 0.6
sends four at the top level (supported and finalized features, their epoch, ZK migration),
which a client of that age does not use. This proxy forwards bytes both ways unchanged,
except that in ApiVersions responses it rewrites the tagged fields (of each entry and
at the top level) to the empty set. Every other API passes through as it is.

Start Tansu advertising this proxy's port, so that every connection a client opens
after the bootstrap one also goes through the proxy:

    kafka_shim.py --listen 127.0.0.1:PROXY --upstream 127.0.0.1:TANSU
"""

import argparse
import asyncio
import struct
import sys

API_VERSIONS = 18


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def skip_tags(buf: bytes, pos: int) -> int:
    count, pos = read_uvarint(buf, pos)
    for _ in range(count):
        _, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        pos += size
    return pos


def strip_entry_tags(body: bytes) -> bytes:
    """body: an ApiVersions v3+ response after its correlation id."""
    out = bytearray(body[:2])  # error_code
    pos = 2
    n, pos = read_uvarint(body, pos)  # compact array: N + 1
    out += body[2:pos]
    for _ in range(max(0, n - 1)):
        out += body[pos : pos + 6]  # api_key, min_version, max_version
        pos = skip_tags(body, pos + 6)
        out += b"\x00"
    out += body[pos : pos + 4]  # throttle_time_ms
    skip_tags(body, pos + 4)  # checks the shape: an IndexError leaves the frame unchanged
    out += b"\x00"  # the top-level tagged fields (supported and finalized features): none
    return bytes(out)


async def pump_requests(reader, writer, pending: dict):
    while True:
        head = await reader.readexactly(4)
        (size,) = struct.unpack(">i", head)
        frame = await reader.readexactly(size)
        api_key, api_version, correlation = struct.unpack(">hhi", frame[:8])
        if api_key == API_VERSIONS and api_version >= 3:
            pending[correlation] = True
        writer.write(head + frame)
        await writer.drain()


async def pump_responses(reader, writer, pending: dict):
    while True:
        head = await reader.readexactly(4)
        (size,) = struct.unpack(">i", head)
        frame = await reader.readexactly(size)
        (correlation,) = struct.unpack(">i", frame[:4])
        if pending.pop(correlation, False):
            try:
                frame = frame[:4] + strip_entry_tags(frame[4:])
                head = struct.pack(">i", len(frame))
            except IndexError:
                pass  # not the shape we know: forward it unchanged
        writer.write(head + frame)
        await writer.drain()


async def handle(client_reader, client_writer, upstream):
    host, port = upstream
    try:
        server_reader, server_writer = await asyncio.open_connection(host, port)
    except OSError:
        client_writer.close()
        return
    pending: dict = {}
    tasks = [
        asyncio.create_task(pump_requests(client_reader, server_writer, pending)),
        asyncio.create_task(pump_responses(server_reader, client_writer, pending)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for w in (client_writer, server_writer):
            try:
                w.close()
            except Exception:
                pass


def hostport(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host, int(port)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--upstream", required=True)
    a = p.parse_args()
    upstream = hostport(a.upstream)
    host, port = hostport(a.listen)
    server = await asyncio.start_server(lambda r, w: handle(r, w, upstream), host, port)
    print(f"kafka shim on {a.listen} -> {a.upstream}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
