"""Tabular work: DuckDB connections that read the store locally and on S3 (``engine``),
autodp's dbt project run in process (``dbt``) and the profile it builds (``profile``), the
aggregate view of a dataset that is all the agent ever sees of it."""
