"""The SQL warehouse the pipeline reads: schema, loaders and the extract stage's reader.

Public API: ``load_warehouse``, ``apply_prebackfill``, ``refresh_weekly_stats``, ``upsert_frame``,
``extract_raw``, ``read_source_tables`` and ``WarehouseError`` (import them from their modules:
``riskai.warehouse.load``, ``.upsert``, ``.extract``, ``.schema``).
"""
