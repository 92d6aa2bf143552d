"""The SQL warehouse the pipeline reads: schema, loaders and the extract stage's reader."""
