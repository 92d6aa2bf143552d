"""Collectors: fill the warehouse from the exchanges' and Coin Metrics' public APIs.

``riskai collect SOURCE`` pages one source by time, validates every page with pandera before any of
it is written, and upserts it (each page in its own transaction, so an interrupted backfill keeps
what it wrote and a rerun continues from the last stored key). ``riskai collect all`` runs every
source for the symbols in params.yaml ``collect.symbols``.
"""
