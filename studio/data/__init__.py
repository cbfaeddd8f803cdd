"""Datasets: finding, reading, checking and splitting the user's files (numpy + stdlib + core)."""
