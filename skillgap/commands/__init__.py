"""Subcommands of `skillgap` that belong to no single part."""
