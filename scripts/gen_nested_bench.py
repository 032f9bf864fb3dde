#!/usr/bin/env python3
"""Writes N GitHub push-event-like records (JSON Lines) for the nested-lists benchmark (issue 31).

    python3 scripts/gen_nested_bench.py OUT.jsonl [N]

Each record has an actor and a repo object and payload.commits: 1 to 5 commits (3 on average),
each with an author object. A fixed seed: the same file every time.
"""
import json
import random
import sys


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    rnd = random.Random(31)
    with open(out, "w") as f:
        for i in range(1, n + 1):
            commits = []
            for c in range(rnd.randint(1, 5)):
                who = rnd.randint(1, 5000)
                commits.append({
                    "sha": "%040x" % rnd.getrandbits(160),
                    "author": {"email": f"dev{who}@example.com", "name": f"Developer {who}"},
                    "message": f"Fix issue #{rnd.randint(1, 99999)} in module {rnd.randint(1, 300)}",
                    "distinct": rnd.random() < 0.9,
                    "url": f"https://api.github.com/repos/o{i % 997}/r/commits/{c}",
                })
            rec = {
                "id": str(30_000_000_000 + i),
                "type": "PushEvent",
                "actor": {"id": rnd.randint(1, 10**7), "login": f"user{rnd.randint(1, 10**6)}"},
                "repo": {"id": rnd.randint(1, 10**8), "name": f"o{i % 997}/r"},
                "payload": {
                    "repository_id": rnd.randint(1, 10**8),
                    "push_id": 10_000_000_000 + i,
                    "size": len(commits),
                    "distinct_size": len(commits),
                    "ref": "refs/heads/main",
                    "head": commits[-1]["sha"],
                    "commits": commits,
                },
                "public": True,
                "created_at": "2026-03-01T10:%02d:%02dZ" % (i // 60 % 60, i % 60),
            }
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
