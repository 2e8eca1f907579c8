"""Composition root: settings, app factory, HTTP API, CLI."""
