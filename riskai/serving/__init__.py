"""Served models: every variant refitted on all labelled days, and how daily picks one."""
