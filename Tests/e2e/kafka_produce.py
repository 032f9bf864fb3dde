#!/usr/bin/env python3
"""Produces test records to Kafka with confluent-kafka, a client independent of Mend.

  kafka_produce.py --brokers H:P create --topic T [--partitions N]         creates the topic
  kafka_produce.py --brokers H:P events --topic T --count N [--start 1]
                   [--poison-every K] [--drift-every K] [--tombstone-every K]
                   [--oversize-every K] [--new-field-from K]             records with ids start..start+N-1
  kafka_produce.py --brokers H:P lines --topic T FILE...                   each non-blank line is one message
  kafka_produce.py --brokers H:P committed --topic T --group G            JSON: the group's committed offsets
  kafka_produce.py --brokers H:P ends --topic T                            JSON: each partition's end offset

`events` keys each record by its id (so the records spread over the partitions) and prints
one JSON line: how many messages were produced, how many are poison (not a JSON object:
quarantined by Mend), drift (a string where the table has a number: parked), tombstones
(a null value: skipped) and oversize (a 5,000-byte value, over a policy with
max_value_bytes 4096: parked). Every record
carries a distinct integer "id"; poison and tombstones take an id of the range too.
"""
import argparse
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def produce(brokers, topic, items):
    """items: (key, value) pairs; waits until every one is acknowledged by the broker."""
    failed = []

    def report(err, _msg):
        if err is not None:
            failed.append(str(err))

    p = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "acks": "all", "enable.idempotence": False})
    for i, (key, value) in enumerate(items):
        while True:
            try:
                p.produce(topic, key=key, value=value, on_delivery=report)
                break
            except BufferError:
                p.poll(0.1)
        if i % 10000 == 9999:
            p.poll(0)
    left = p.flush(120)
    if left or failed:
        raise SystemExit(f"{left} messages not delivered, {len(failed)} failed: {failed[:3]}")


def partitions(brokers, topic):
    md = AdminClient({"bootstrap.servers": brokers}).list_topics(topic, timeout=10)
    return sorted(md.topics[topic].partitions)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("--topic", required=True)
    c.add_argument("--partitions", type=int, default=1)
    e = sub.add_parser("events")
    e.add_argument("--topic", required=True)
    e.add_argument("--count", type=int, required=True)
    e.add_argument("--start", type=int, default=1)
    e.add_argument("--poison-every", type=int, default=0)
    e.add_argument("--drift-every", type=int, default=0)
    e.add_argument("--tombstone-every", type=int, default=0)
    e.add_argument("--oversize-every", type=int, default=0)
    e.add_argument("--new-field-from", type=int, default=0, help='records from this one on carry "channel": "web"')
    l = sub.add_parser("lines")
    l.add_argument("--topic", required=True)
    l.add_argument("files", nargs="+")
    k = sub.add_parser("committed")
    k.add_argument("--topic", required=True)
    k.add_argument("--group", required=True)
    n = sub.add_parser("ends")
    n.add_argument("--topic", required=True)
    a = ap.parse_args()

    if a.cmd == "create":
        admin = AdminClient({"bootstrap.servers": a.brokers})
        fs = admin.create_topics([NewTopic(a.topic, num_partitions=a.partitions, replication_factor=1)])
        for f in fs.values():
            f.result(timeout=30)
        print(json.dumps({"topic": a.topic, "partitions": a.partitions}))
    elif a.cmd == "events":
        items, counts = [], {"poison": 0, "drift": 0, "tombstones": 0, "oversize": 0}
        for n in range(a.start, a.start + a.count):
            i = n - a.start + 1
            key = str(n).encode()
            if a.poison_every and i % a.poison_every == 0:
                counts["poison"] += 1
                # Alternate the two kinds of poison: not JSON, and JSON that is not an object.
                items.append((key, b"not json {" + key if counts["poison"] % 2 else b"[1, 2, 3]"))
                continue
            if a.tombstone_every and i % a.tombstone_every == 0:
                counts["tombstones"] += 1
                items.append((key, None))
                continue
            amount = 1.5
            if a.drift_every and i % a.drift_every == 0:
                counts["drift"] += 1
                amount = "lots"  # a string in a numeric column: parked, never coerced
            rec = {"id": n, "user_id": n % 97, "kind": "click", "amount": amount, "ts": "2026-03-01T10:00:01Z"}
            if a.oversize_every and i % a.oversize_every == 0:
                counts["oversize"] += 1
                rec["kind"] = "x" * 5000  # over a policy's max_value_bytes of 4096: parked
            if a.new_field_from and i >= a.new_field_from:
                rec["channel"] = "web"  # a new nullable column: healed on its own
            items.append((key, json.dumps(rec).encode()))
        produce(a.brokers, a.topic, items)
        print(json.dumps({"produced": len(items), **counts}))
    elif a.cmd == "lines":
        items = []
        for f in a.files:
            with open(f, "rb") as fh:
                items += [(None, line.rstrip(b"\r\n")) for line in fh if line.strip()]
        produce(a.brokers, a.topic, items)
        print(json.dumps({"produced": len(items)}))
    elif a.cmd == "committed":
        c = Consumer({"bootstrap.servers": a.brokers, "group.id": a.group, "enable.auto.commit": False})
        try:
            tps = c.committed([TopicPartition(a.topic, p) for p in partitions(a.brokers, a.topic)], timeout=20)
            print(json.dumps({str(tp.partition): tp.offset for tp in tps}))
        finally:
            c.close()
    elif a.cmd == "ends":
        c = Consumer({"bootstrap.servers": a.brokers, "group.id": "mend-test-ends", "enable.auto.commit": False})
        try:
            out = {}
            for p in partitions(a.brokers, a.topic):
                _low, high = c.get_watermark_offsets(TopicPartition(a.topic, p), timeout=20)
                out[str(p)] = high
            print(json.dumps(out))
        finally:
            c.close()


if __name__ == "__main__":
    sys.exit(main())
