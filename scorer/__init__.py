"""Validates raw rows, quarantines faulty ones and scores the rest with the model."""
