"""Glue between the composition root and each connector/worker: settings, components, routes."""
