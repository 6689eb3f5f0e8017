"""Streams Telco production rows with drift injected on a scenario timeline."""
