"""Reusable widgets for the studio panes."""
