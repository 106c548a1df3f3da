"""Cache & performance: GetCacheStats, and a guarded InvalidateCache."""

import pandas as pd
import streamlit as st
import ui
from client import ServiceError

TEXT_TIERS = ["small", "medium", "large", "xlarge"]

client, operations = ui.require_operations()

st.title("Cache & performance")
st.button("Refresh", key="cache_refresh")
try:
    stats = client.cache_stats()
except ServiceError as failed:
    ui.show_error(failed)
    st.stop()

totals = [c for c in stats.counts if not c.operation]
by_operation = [c for c in stats.counts if c.operation]
hits = sum(c.hits for c in totals)
memory_lookups = sum(c.hits + c.misses for c in totals if c.tier == "memory")

ratio, hit_count, lookups, compression = st.columns(4)
ratio.metric("Hit ratio", f"{stats.hit_ratio:.1%}")
hit_count.metric("Hits", f"{hits:,}")
lookups.metric("Lookups", f"{memory_lookups:,}")
compression.metric("Compression ratio", f"{stats.compression_ratio:.2f}", help="Stored bytes over uncompressed bytes")

l1, redis, backend, circuit = st.columns(4)
l1.metric(
    "L1 (memory) size",
    ui.human_bytes(stats.memory_bytes),
    help=f"{stats.memory_entries:,} entries; budget {ui.human_bytes(stats.memory_max_bytes)}",
)
redis_state = (
    "not used"
    if stats.redis_mode in ("", "none")
    else (f"{stats.redis_mode}: {'up' if stats.redis_available else 'DOWN'}")
)
redis.metric("Redis (L2)", redis_state)
backend.metric("Key backend", stats.key_backend or "?")
circuit.metric("Provider circuit", stats.provider_circuit or "?")
if stats.memory_max_bytes:
    st.progress(
        min(stats.memory_bytes / stats.memory_max_bytes, 1.0),
        text=f"L1: {stats.memory_entries:,} entries, {ui.human_bytes(stats.memory_bytes)} "
        f"of {ui.human_bytes(stats.memory_max_bytes)}",
    )
SCOPES = {
    "deployment": "every worker of every replica sharing the Redis",
    "host": "every worker of this server (no Redis)",
    "worker": "the worker that answered only",
}
st.caption(
    f"Model {stats.model} · decode failures {stats.decode_failures:,} · "
    f"single-flight joins {stats.singleflight_joins:,} · totals of {len(stats.workers)} "
    f"worker{'s' if len(stats.workers) != 1 else ''}: {SCOPES.get(stats.scope, 'the worker that answered')}"
)

by_tier_col, by_op_col = st.columns(2)
with by_tier_col:
    st.subheader("Hits and misses by tier")
    st.dataframe(
        pd.DataFrame([{"tier": c.tier, "hits": c.hits, "misses": c.misses} for c in totals]),
        hide_index=True,
        width="stretch",
        key="cache_by_tier",
    )
with by_op_col:
    st.subheader("By operation")
    frame = pd.DataFrame(
        [{"operation": c.operation, "tier": c.tier, "hits": c.hits, "misses": c.misses} for c in by_operation]
    )
    if not frame.empty:
        frame = frame.pivot_table(index="operation", columns="tier", values=["hits", "misses"], aggfunc="sum")
        frame.columns = [f"{tier} {result}" for result, tier in frame.columns]
    st.dataframe(frame, width="stretch", key="cache_by_operation")

st.subheader("Key-generation latency by text size and backend")
latency = pd.DataFrame(
    [
        {
            "text tier": k.text_tier,
            "backend": k.backend,
            "count": k.count,
            "p50 µs": k.p50_us,
            "p95 µs": k.p95_us,
            "p99 µs": k.p99_us,
        }
        for k in stats.key_latency
    ]
)
if latency.empty:
    st.info("No keys generated yet: process some texts first.")
else:
    latency["text tier"] = pd.Categorical(latency["text tier"], TEXT_TIERS, ordered=True)
    latency = latency.sort_values(["text tier", "backend"])
    latency["series"] = latency["text tier"].astype(str) + " · " + latency["backend"]
    st.bar_chart(
        latency, x="series", y=["p50 µs", "p95 µs", "p99 µs"], stack=False, x_label="text tier · backend", y_label="µs"
    )
    st.dataframe(latency.drop(columns="series"), hide_index=True, width="stretch", key="cache_latency")

st.subheader("Workers")
st.caption(
    f"Each worker publishes its figures every few seconds; one that stops for "
    f"{stats.snapshot_expiry_seconds:g} s leaves the totals. Age: how old its figures are."
)
st.dataframe(
    pd.DataFrame(
        [
            {
                "worker": w.worker_id + (" (answered)" if w.answering else ""),
                "lookups": w.lookups,
                "hits": w.hits,
                "hit ratio": f"{w.hit_ratio:.1%}",
                "L1 entries": w.memory_entries,
                "L1 size": ui.human_bytes(w.memory_bytes),
                "age s": round(w.age_seconds, 1),
            }
            for w in stats.workers
        ],
        columns=["worker", "lookups", "hits", "hit ratio", "L1 entries", "L1 size", "age s"],
    ),
    hide_index=True,
    width="stretch",
    key="cache_workers",
)

st.subheader("Invalidate")
st.caption("Deletes cached answers so the next identical request calls the model again. Needs an admin API key.")
names = [info.name for info in operations.operations]
target = st.selectbox(
    "What to delete",
    ["everything", *names],
    key="cache_target",
    format_func=lambda t: (
        "everything in the cache namespace" if t == "everything" else f"every cached {t.replace('_', ' ')} answer"
    ),
)
confirmed = st.checkbox(
    f"Yes, delete {'everything' if target == 'everything' else 'all ' + target + ' answers'}", key="cache_confirm"
)
if st.button("Invalidate", disabled=not confirmed, key="cache_invalidate"):
    try:
        if target == "everything":
            deleted = client.invalidate(everything=True)
        else:
            deleted = client.invalidate(operation=next(i.operation for i in operations.operations if i.name == target))
        st.success(f"Deleted {deleted:,} cached entries.")
    except ServiceError as failed:
        ui.show_error(failed)
