"""Windowed monitors on scored rows: performance, drift and fairness.

Window statistics here are pure objects (``update``, ``merge``, ``result``) tested without a
broker; ``monitors.app`` feeds them from Kafka through the shared consumer loop.
"""
