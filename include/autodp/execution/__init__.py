"""Running strategies: a strategy as data (``strategy``), the executor that applies it to a
dataset step by step with prefix Cache-and-Reuse (``executor``), and its sibling the
sharded runner (``shards``), which applies it to data too large for one task in rounds of
shard tasks."""
