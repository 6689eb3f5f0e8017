"""Turns window signals into alerts and one decision per window, and exports metrics."""
