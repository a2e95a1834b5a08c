"""Moodle web services: grade and completion sync as events, and catalog import."""
