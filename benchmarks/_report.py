"""The results file (markdown), its chart (PNG) and raw figures (JSON), and the console summary."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ._common import Results, Row

__all__ = ["readme", "summary", "targets", "write"]

FLOOR = "floor: hand-written decorator (key + dict lookup)"
FLOOR_COPY = "floor: hand-written decorator + orjson.loads"
REDIS_FLOOR = "floor: redis GET + orjson.loads"
FILE_FLOOR = "floor: read 2 KB sharded file + orjson.loads"
NATIVE_FLOOR = "floor: key + dict lookup + Message.model_validate"
MEMORY_PEERS = (
    "cashews mem (default, protected)",
    "cashews mem protected=False",
    "aiocache memory",
)
REDIS_PEERS = ("cashews redis (default)", "cashews redis protected=False", "aiocache redis")


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _us(v: float) -> str:
    if v != v:
        return "-"
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def _x(v: float | None) -> str:
    return "-" if v is None or v != v else f"{v:.2f}x"


def _ratio(results: Results, name: str, floor: str) -> float | None:
    a, b = results.hit(name), results.hit(floor)
    if a is None or b is None or b.sample.p50_ns <= 0:
        return None
    return a.sample.p50_ns / b.sample.p50_ns


def _floor_for(row: Row) -> str | None:
    if row.group == "floor":
        return None
    if "cached_client" in row.name:
        return NATIVE_FLOOR
    if row.tier == "memory":
        return FLOOR
    if row.tier == "redis" or (row.tier == "chain" and "redis" in row.note):
        return REDIS_FLOOR
    if row.tier in ("file", "chain"):
        return FILE_FLOOR
    return None


@dataclasses.dataclass
class Target:
    what: str
    bound: str
    measured: str
    ok: bool | None  # None: not measured in this run


def targets(r: Results) -> list[Target]:
    out: list[Target] = []
    mem = r.hit("aicache memory")
    ratio = _ratio(r, "aicache memory", FLOOR_COPY)
    fresh = mem.fresh if mem else ""
    out.append(
        Target(
            "memory hit vs hand-written floor (key + lookup + orjson.loads for a fresh copy)",
            "<= 2x, fresh",
            f"{_x(ratio)}, {fresh or '-'}",
            None if ratio is None else ratio <= 2 and fresh == "fresh",
        )
    )
    for peer in MEMORY_PEERS:
        if mem is None or r.hit(peer) is None:
            continue
        speedup = _ratio(r, peer, "aicache memory")
        out.append(
            Target(
                f"memory hit speed-up over {peer}",
                ">= 3x",
                _x(speedup),
                None if speedup is None else speedup >= 3,
            )
        )
    ratio = _ratio(r, "aicache redis", REDIS_FLOOR)
    out.append(
        Target(
            "Redis hit vs raw GET + orjson.loads",
            "<= 1.15x",
            _x(ratio),
            None if ratio is None else ratio <= 1.15,
        )
    )
    ratio = _ratio(r, "aicache file", FILE_FLOOR)
    out.append(
        Target(
            "file hit vs raw file read + orjson.loads",
            "<= 2.5x",
            _x(ratio),
            None if ratio is None else ratio <= 2.5,
        )
    )
    for row in r.stampede:
        if row["name"].startswith("aicache"):
            ok = row["ran"] == 1 and row["ratio"] <= 1.3 and not row["errors"]
            out.append(
                Target(
                    f"{row['n']:,} concurrent identical misses, {row['name']} ({row['how']})",
                    "1 call, wall <= 1.3x one call",
                    f"{row['ran']} call(s), {row['ratio']:.2f}x",
                    ok,
                )
            )
    for m in r.misses:
        if m["name"] == "aicache memory":
            out.append(
                Target(
                    "miss: time added over calling the function (memory, p50)",
                    "<= 40 µs",
                    f"{m['overhead_p50_us']:.1f} µs",
                    m["overhead_p50_us"] <= 40,
                )
            )
    ratio = _ratio(r, "aicache cached_client memory", NATIVE_FLOOR)
    if ratio is not None:
        out.append(
            Target(
                "cached_client hit vs key + lookup + model_validate",
                "<= 2.5x",
                _x(ratio),
                ratio <= 2.5,
            )
        )
    out += _hot_targets(r)
    for o in r.outage:
        if o["name"] != "aicache redis" or not o["scenario"].startswith("hung"):
            continue
        out.append(
            Target(
                "hung Redis, added per call after the breaker opened (p99)",
                "<= 1 ms",
                f"{o['added_p99_ms']:.3f} ms",
                o["added_p99_ms"] <= 1.0,
            )
        )
    return out


def _hot_targets(r: Results) -> list[Target]:
    out: list[Target] = []
    for row in r.hot.get("load", []):
        if row["name"].startswith("aicache"):
            out.append(
                Target(
                    f"Redis, 1,000 concurrent callers on distinct keys, {row['name']}: calls/s "
                    "÷ one raw pipeline",
                    ">= 0.5",
                    f"{row['ratio']:.2f}",
                    row["ratio"] >= 0.5,
                )
            )
    near = r.hot.get("near")
    if near:
        out.append(
            Target(
                "near cache: old value served after another process's overwrite returned (p99)",
                "<= 1,000 ms (the channel's loss bound)",
                f"{near['p99_ms']:.2f} ms (p50 {near['p50_ms']:.2f}, max {near['max_ms']:.2f})",
                near["max_ms"] <= 1000,
            )
        )
    for row in r.hot.get("memory", []):
        out.append(
            Target(
                f"memory tier at {row['entries']:,} entries: bytes held ÷ payload bytes",
                "<= 1.2x",
                _x(row["ratio"]),
                row["ratio"] <= 1.2,
            )
        )
    return out


def _hot_tables(r: Results) -> str:
    parts = []
    if r.hot.get("load"):
        parts += [
            _table(
                ("1,000 concurrent callers, distinct keys, hits", "calls/s", "÷ floor", "wall ms"),
                (
                    (
                        x["name"],
                        f"{x['calls_per_s']:,.0f}",
                        f"{x['ratio']:.2f}",
                        f"{x['wall_ms']:.1f}",
                    )
                    for x in r.hot["load"]
                ),
            ),
            "",
        ]
    near = r.hot.get("near")
    if near:
        parts += [
            _table(
                ("near cache: stale window after another process's overwrite", "ms"),
                (
                    ("overwrites", f"{near['overwrites']}"),
                    ("p50", f"{near['p50_ms']:.3f}"),
                    ("p99", f"{near['p99_ms']:.3f}"),
                    ("max", f"{near['max_ms']:.3f}"),
                    ("near hits during the run", f"{near['near_hits']:,}"),
                ),
            ),
            "",
        ]
    if r.hot.get("memory"):
        parts.append(
            _table(
                ("memory tier entries", "payload B/entry", "held B/entry", "÷ payload"),
                (
                    (
                        f"{x['entries']:,}",
                        f"{x['payload_bytes']:.0f}",
                        f"{x['per_entry_bytes']:.0f}",
                        _x(x["ratio"]),
                    )
                    for x in r.hot["memory"]
                ),
            )
        )
    return "\n".join(parts)


def _mark(ok: bool | None) -> str:
    return {True: "pass", False: "**miss**", None: "not measured"}[ok]


def _hits_table(r: Results) -> str:
    rows = []
    for row in r.hits:
        floor = _floor_for(row)
        ratio = _ratio(r, row.name, floor) if floor else None
        rows.append(
            (
                row.name,
                row.tier,
                _us(row.sample.p50_us),
                _us(row.sample.p99_us),
                _x(ratio),
                row.fresh or "",
                f"{row.sample.block_p50_spread:.0%}",
                row.note,
            )
        )
    return _table(
        ("contender", "tier", "p50 µs", "p99 µs", "x its floor", "hit returns", "noise", "note"),
        rows,
    )


def _peer_table(r: Results) -> str:
    rows = []
    for ours, peers in (("aicache memory", MEMORY_PEERS), ("aicache redis", REDIS_PEERS)):
        if r.hit(ours) is None:
            continue
        for peer in peers:
            if r.hit(peer) is not None:
                rows.append((ours, peer, _x(_ratio(r, peer, ours))))
    return _table(("aicache", "peer", "peer p50 / aicache p50"), rows)


def _floors_table(r: Results) -> str:
    rows = []
    for row in r.hits:
        floor = _floor_for(row)
        if row.group != "aicache" or floor is None:
            continue
        rows.append((row.name, floor, _x(_ratio(r, row.name, floor))))
        if floor == FLOOR:
            rows.append((row.name, FLOOR_COPY, _x(_ratio(r, row.name, FLOOR_COPY))))
        if floor == NATIVE_FLOOR:
            rows.append((row.name, FLOOR, _x(_ratio(r, row.name, FLOOR))))
    return _table(("aicache", "floor", "aicache p50 / floor p50"), rows)


def _breakdown_table(r: Results) -> str:
    rows = [(row.name, _us(row.sample.p50_us), _us(row.sample.p99_us)) for row in r.breakdown]
    return _table(("step", "p50 µs", "p99 µs"), rows)


def _misses_table(r: Results) -> str:
    rows = [
        (m["name"], _us(m["p50_us"]), _us(m["p99_us"]), _us(m["overhead_p50_us"])) for m in r.misses
    ]
    return _table(("contender", "miss p50 µs", "p99 µs", "added to the call, p50 µs"), rows)


def _keys_table(r: Results) -> str:
    rows = [
        (
            f"{k['bytes'] / 1024:,.0f} KB",
            _us(k["floor_p50_us"]),
            _us(k["aicache_p50_us"]),
            _us(k["aicache_p99_us"]),
            _x(k["ratio"]),
        )
        for k in r.keys
    ]
    return _table(("arguments", "floor p50 µs", "aicache p50 µs", "aicache p99 µs", "ratio"), rows)


def _cluster_table(r: Results) -> str:
    rows = [(c["name"], _us(c["p50_us"]), _us(c["p99_us"]), _x(c["ratio"])) for c in r.cluster]
    return _table(("Redis", "hit p50 µs", "p99 µs", "against one server"), rows)


def _compression_tables(r: Results) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    codecs = _table(
        ("1 MB JSON body", "bytes", "compress ms", "decompress ms"),
        [
            (c["what"], f"{c['bytes']:,}", ms(c["compress_ms"]), ms(c["decompress_ms"]))
            for c in r.compression
        ],
    )
    if not r.compression_hits:
        return codecs
    hits = _table(
        ("entry", "stored bytes", "Redis hit p50 µs", "p99 µs"),
        [
            (h["name"], f"{h['stored_bytes']:,}", _us(h["p50_us"]), _us(h["p99_us"]))
            for h in r.compression_hits
        ],
    )
    return codecs + "\n\n" + hits


def _stampede_table(r: Results) -> str:
    rows = [
        (
            s["name"],
            s["how"],
            f"{s['ran']:,}",
            f"{s['wall_s'] * 1000:,.0f}",
            _x(s["ratio"]),
            f"{s.get('started_s', float('nan')) * 1000:,.1f}",
            f"{s.get('fan_out_s', float('nan')) * 1000:,.1f}",
            f"{s.get('cold_wall_s', float('nan')) * 1000:,.0f}",
            f"{s['errors']:,}" + (f" ({', '.join(s['kinds'])})" if s["kinds"] else ""),
            f"{s.get('logged', 0):,}",
        )
        for s in r.stampede
    ]
    return _table(
        (
            "contender",
            "callers",
            "calls that ran",
            "wall ms",
            "x one call",
            "call started at ms",
            "answers out ms after it returned",
            "cold: wall ms",
            "errors",
            "errors the cache logged",
        ),
        rows,
    )


def _outage_table(r: Results) -> str:
    rows = [
        (
            o["name"],
            o["scenario"],
            o["settings"],
            f"{o['first_ms']:,.2f}",
            f"{o['added_p50_ms']:,.3f}",
            f"{o['added_p99_ms']:,.3f}",
            o["calls"],
            o["errors"] or "",
        )
        for o in r.outage
    ]
    return _table(
        (
            "cache",
            "Redis",
            "settings",
            "first call ms",
            "added p50 ms",
            "added p99 ms",
            "calls",
            "raised",
        ),
        rows,
    )


def _replay_table(r: Results) -> str:
    rows = [
        (
            x["name"],
            f"{x['requests']:,}",
            f"{x['provider_calls']:,}",
            f"{x['hit_rate']:.1%}",
            f"${x['spent_usd']:,.2f}",
            f"${x['saved_usd']:,.2f}",
            f"{x['p50_s']:.3f}",
            f"{x['p99_s']:.3f}",
            f"{x['wall_s']:.1f}",
        )
        for x in r.replay
    ]
    return _table(
        (
            "run",
            "requests",
            "provider calls",
            "hit rate",
            "spent",
            "saved",
            "p50 s (sim)",
            "p99 s (sim)",
            "wall s (real)",
        ),
        rows,
    )


def render(r: Results, chart: str | None) -> str:
    m = r.mode
    label = {
        "full": "full run",
        "quick": "QUICK run (`--quick`: reduced counts; figures are indicative, not the record)",
        "smoke": "SMOKE run (`--smoke`: tiny counts; proves the script runs, figures mean nothing)",
    }[m.name]
    parts = [
        f"# aicache benchmarks: {label}",
        "",
        "Produced by `python -m benchmarks"
        + {"full": "", "quick": " --quick", "smoke": " --smoke"}[m.name]
        + "`. Contenders run interleaved: every block times each contender in a new shuffled "
        "order; each call is timed alone with `time.perf_counter_ns`; p50/p99 are over all "
        f"calls of all blocks ({m.blocks} blocks; {m.calls:,} calls per block in-process, "
        f"{m.redis_calls:,} over the network). 'noise' is the spread of the per-block medians "
        "((max - min) / median). Argument set: model name, 4 messages of ~1.5 KB in total, "
        "temperature, max_tokens, passed as keywords; result: a ~2 KB completion-shaped dict.",
        "",
        "## Machine",
        "",
        _table(("", ""), r.machine.items()),
        "",
        "## Versions",
        "",
        _table(("package", "version"), r.versions.items()),
        "",
    ]
    if chart:
        parts += [f"![chart]({chart})", ""]
    parts += [
        "## Targets",
        "",
        _table(
            ("target", "bound", "measured", ""),
            ((t.what, t.bound, t.measured, _mark(t.ok)) for t in targets(r)),
        ),
        "",
    ]
    if r.hits:
        parts += [
            "## Hit cost per call",
            "",
            "The floor for in-process hits is a hand-written decorator: `orjson.dumps(kwargs, "
            "OPT_SORT_KEYS)` + SHA-256 + a dict lookup that returns the stored object itself "
            "(the targets' floor). '+ orjson.loads' keeps bytes and returns a fresh object, "
            "which is what aicache promises. 'hit returns': whether a caller may mutate what a "
            "hit returned without changing the cache ('shallow copy': nested mutation leaks).",
            "",
            _hits_table(r),
            "",
            "### aicache against the floors",
            "",
            _floors_table(r),
            "",
            "### Peers against aicache (how many times slower than aicache each peer is)",
            "",
            _peer_table(r),
            "",
        ]
    if r.breakdown:
        parts += [
            "## Where an aicache memory hit spends its time",
            "",
            "Each step of the hit path timed alone (same interleaving). Steps 3-7 are inside 8, "
            "8 is inside 9, and 1 and 9 are inside 10. A memory hit runs 1, then 12 (which calls "
            "11, then 4-7): 8 and 9 are the path of a hit that has to await.",
            "",
            _breakdown_table(r),
            "",
        ]
    if r.misses:
        parts += [
            "## Miss overhead",
            "",
            "Every call has arguments never seen before. The wrapped call parses a 2 KB "
            "completion; 'added' is the cached call's p50 minus the bare call's p50.",
            "",
            _misses_table(r),
            "",
        ]
    if r.keys:
        parts += [
            "## Key-building cost against argument size",
            "",
            "aicache: `KeyBuilder.key` (bind to the signature, canonical orjson, SHA-256, "
            "prefix). Floor: `orjson.dumps(kwargs, OPT_SORT_KEYS)` + SHA-256.",
            "",
            _keys_table(r),
            "",
        ]
    if r.cluster:
        parts += [
            "## Redis Cluster hit against a single-server hit",
            "",
            "`@ai_cached` on the Redis tier alone, 64 keys spread over the slots; the cluster is "
            "3 primaries started by the run on loopback ports.",
            "",
            _cluster_table(r),
            "",
        ]
    if r.streams:
        parts += [
            "## Streams: time to first and last chunk",
            "",
            "OpenAI `chat.completions.create(stream=True)`, median of the rounds: the simulator "
            "with its default gaps between chunks, against a hit replayed from the memory tier "
            "(the sync client replays the entry the async one wrote).",
            "",
            _table(
                ("stream", "first chunk ms", "last chunk ms", "rounds"),
                [
                    (s["name"], f"{s['first_ms']:.2f}", f"{s['last_ms']:.2f}", str(s["rounds"]))
                    for s in r.streams
                ],
            ),
            "",
        ]
    if r.compression:
        parts += [
            "## Compressed entries",
            "",
            "A 1 MB chat-like JSON result. Codecs: best of several runs. Hits: the Redis tier's "
            "GET plus the envelope's decode (what compression changes), interleaved.",
            "",
            _compression_tables(r),
            "",
        ]
    if r.hot:
        parts += [
            "## The hot path under load",
            "",
            "Redis: 1,000 concurrent callers on distinct keys (all hits) through `@ai_cached`, "
            "best round of several, interleaved, against one pipeline of 1,000 raw GETs + "
            "`orjson.loads`. Near cache: another process overwrites a key (each overwrite "
            "after the reader has settled on the last value) while this process reads it in a "
            "loop, one loop turn per read; the stale window is the time from the writer's SET "
            "returning to this process first serving the new value. Memory: `tracemalloc` of "
            "the memory tier's bookkeeping plus the keys and values it holds, per entry.",
            "",
            _hot_tables(r),
            "",
        ]
    if r.stampede:
        one = r.stampede[0]["one_call_s"] * 1000
        parts += [
            "## Stampede: concurrent identical calls on an empty cache",
            "",
            f"A call that sleeps {m.stampede_delay * 1000:.0f} ms (one call alone: {one:.1f} ms)."
            " 'calls that ran' counts real executions; 'errors' counts callers that raised or "
            "got a wrong answer. Each cache first takes one burst of the same size on other "
            "arguments ('cold': connections open, code paths warm), then the measured one.",
            "",
            _stampede_table(r),
            "",
        ]
    if r.outage:
        parts += [
            "## Outage: Redis refused and Redis hung",
            "",
            "A private redis-server, stopped (refused) or frozen with SIGSTOP (hung) after each "
            "cache stored the entry. Each cache repeats the same call; 'added' is a call's time "
            "minus the bare call's p50, over the calls after the first. Peers are measured "
            "with aicache's own timeouts (per operation and to connect) and at their defaults "
            "(fewer calls: each may hang for seconds). aicache's breaker "
            "lets one probe through per cool-down; that probe pays one timeout.",
            "",
            _outage_table(r),
            "",
        ]
    if r.replay:
        parts += ["## Workload replay", "", r.replay[0].get("about", ""), "", _replay_table(r), ""]
    if r.notes or r.errors:
        parts += ["## Notes", ""]
        parts += [f"- {n}" for n in r.notes]
        parts += [f"- family `{k}` failed: {v}" for k, v in r.errors.items()]
        parts.append("")
    if r.hits:
        parts += ["## For the README", "", "```markdown", readme(r), "```", ""]
    secs = ", ".join(f"{k} {v:.1f} s" for k, v in r.seconds.items())
    parts += [f"Run time: {secs}.", ""]
    return "\n".join(parts)


def _chart(r: Results, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    colors = {"floor": "#9e9e9e", "aicache": "#1f77b4", "cashews": "#ff7f0e", "aiocache": "#2ca02c"}
    panels = [p for p in ("hits", "stampede", "outage") if getattr(r, p)]
    if not panels:
        return False
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 4 + 3.2 * len(panels)), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        if panel == "hits":
            rows = [h for h in r.hits if not h.name.startswith("harness")]
            ax.barh(
                [h.name for h in rows],
                [h.sample.p50_us for h in rows],
                color=[colors.get(h.group, "#777") for h in rows],
            )
            ax.set_xscale("log")
            ax.set_xlabel("hit cost per call, p50 µs (log scale)")
            ax.invert_yaxis()
        elif panel == "stampede":
            names = [f"{s['name']} ({s['how']})" for s in r.stampede]
            ax.barh(names, [s["ran"] for s in r.stampede], color="#1f77b4")
            for i, s in enumerate(r.stampede):
                ax.text(s["ran"], i, f"  wall {s['wall_s'] * 1000:,.0f} ms", va="center")
            ax.set_xscale("log")
            ax.set_xlabel(f"calls that ran, of {r.stampede[0]['n']:,} concurrent identical calls")
            ax.invert_yaxis()
        else:
            names = [f"{o['name']} {o['scenario']}, {o['settings']}" for o in r.outage]
            ax.barh(names, [max(o["added_p50_ms"], 1e-3) for o in r.outage], color="#d62728")
            ax.set_xscale("log")
            ax.set_xlabel("added latency per call with Redis down, p50 ms (log scale)")
            ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"aicache benchmarks ({r.mode.name} run)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _jsonable(r: Results) -> dict[str, Any]:
    def rows(items: list[Row]) -> list[dict[str, Any]]:
        return [dict(dataclasses.asdict(i), sample=dataclasses.asdict(i.sample)) for i in items]

    return {
        "mode": r.mode.name,
        "machine": r.machine,
        "versions": r.versions,
        "hits": rows(r.hits),
        "breakdown": rows(r.breakdown),
        "misses": r.misses,
        "keys": r.keys,
        "stampede": r.stampede,
        "outage": r.outage,
        "replay": r.replay,
        "cluster": r.cluster,
        "compression": r.compression,
        "compression_hits": r.compression_hits,
        "hot": r.hot,
        "streams": r.streams,
        "targets": [dataclasses.asdict(t) for t in targets(r)],
        "notes": r.notes,
        "errors": r.errors,
        "seconds": r.seconds,
    }


def write(r: Results, out: Path, stem: str) -> Path:
    """Write ``<stem>.md``, ``<stem>.png`` and ``<stem>.json`` into ``out``; return the .md."""
    out.mkdir(parents=True, exist_ok=True)
    profiles = sorted(out.glob("*-profile.md"))
    if profiles and any(t.ok is False for t in targets(r)):
        r.notes.append(
            f"Where the time goes when a target is missed: [{profiles[-1].name}]"
            f"({profiles[-1].name}) (hand-written profile notes; check their date and commit)."
        )
    png = out / f"{stem}.png"
    drawn = _chart(r, png)
    md = out / f"{stem}.md"
    md.write_text(render(r, png.name if drawn else None), encoding="utf-8")
    (out / f"{stem}.json").write_text(json.dumps(_jsonable(r), indent=1), encoding="utf-8")
    return md


def summary(r: Results) -> str:
    """The console view: hit costs and targets."""
    parts = []
    if r.hits:
        parts += [_hits_table(r), ""]
    parts.append(
        _table(
            ("target", "bound", "measured", ""),
            ((t.what, t.bound, t.measured, _mark(t.ok)) for t in targets(r)),
        )
    )
    if r.errors:
        parts += ["", *(f"family {k} failed: {v}" for k, v in r.errors.items())]
    return "\n".join(parts)


def readme(r: Results) -> str:
    """A performance section for the README, quoting this run's figures."""
    lines = [
        "## Performance",
        "",
        f"Measured with `python -m benchmarks` ({r.mode.name} run) on {r.machine.get('CPU', '?')}, "
        f"{r.machine.get('cores', '?')} cores, {r.machine.get('Python', '?')}; medians of "
        "interleaved blocks, a 4-message chat request (~1.5 KB) and a ~2 KB result. Full figures: "
        "`benchmarks/results/`.",
        "",
        "| per-call cost of a hit | p50 | x the floor | peer ÷ aicache |",
        "|---|---|---|---|",
    ]
    groups = (
        (FLOOR, "aicache memory", MEMORY_PEERS, (FLOOR_COPY,)),
        (FILE_FLOOR, "aicache file", (), ()),
        (REDIS_FLOOR, "aicache redis", REDIS_PEERS, ()),
        (NATIVE_FLOOR, "aicache cached_client memory", (), ()),
    )
    for floor, ours, peers, extra in groups:
        base, mine = r.hit(floor), r.hit(ours)
        if base is None or mine is None:
            continue
        lines.append(f"| {floor} | {_us(base.sample.p50_us)} µs | 1x | |")
        for name in extra:
            row = r.hit(name)
            if row is not None:
                ratio = _x(row.sample.p50_ns / base.sample.p50_ns)
                lines.append(f"| {name} | {_us(row.sample.p50_us)} µs | {ratio} | |")
        ratio = _x(mine.sample.p50_ns / base.sample.p50_ns)
        lines.append(f"| **{ours}** | **{_us(mine.sample.p50_us)} µs** | **{ratio}** | |")
        for name in peers:
            row = r.hit(name)
            if row is not None:
                lines.append(
                    f"| {name} | {_us(row.sample.p50_us)} µs "
                    f"| {_x(row.sample.p50_ns / base.sample.p50_ns)} "
                    f"| {_x(row.sample.p50_ns / mine.sample.p50_ns)} |"
                )
    stampede = [s for s in r.stampede if s["name"].startswith(("aicache", "cashews", "aiocache"))]
    if stampede:
        lines += [
            "",
            f"{stampede[0]['n']:,} concurrent identical calls of a "
            f"{r.mode.stampede_delay * 1000:.0f} ms function on an empty cache: "
            + "; ".join(
                f"{s['name']} ({s['how']}) ran it {s['ran']:,} time(s) in "
                f"{s['wall_s'] * 1000:,.0f} ms"
                for s in stampede
            )
            + ".",
        ]
    hung = [o for o in r.outage if o["scenario"].startswith("hung")]
    if hung:
        lines += [
            "",
            "Redis hung (SIGSTOP), added per call: "
            + "; ".join(f"{o['name']} ({o['settings']}) {o['added_p50_ms']:,.2f} ms" for o in hung)
            + ".",
        ]
    if len(r.replay) == 2:
        off, on = r.replay
        if off["spent_usd"] == off["spent_usd"] and off["spent_usd"] > 0:
            lines += [
                "",
                f"Replay of {on['requests']:,} requests (Zipf-like over "
                f"{r.mode.replay_prompts:,} prompts) against the simulated provider: hit rate "
                f"{on['hit_rate']:.0%}, ${on['spent_usd']:,.2f} spent instead of "
                f"${off['spent_usd']:,.2f} ({1 - on['spent_usd'] / off['spent_usd']:.0%} saved); "
                f"p50 latency {on['p50_s']:.3f} s instead of {off['p50_s']:.2f} s (simulated).",
            ]
    return "\n".join(lines)
