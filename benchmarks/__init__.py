"""aicache's benchmarks: ``python -m benchmarks [--quick] [--redis-url URL] [--out DIR]``.

Hit cost against physical floors and against cashews and aiocache, miss overhead, key-building
cost, stampedes, Redis outages and a priced workload replay, measured in one interleaved run.
"""
