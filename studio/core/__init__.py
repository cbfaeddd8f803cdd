"""Vocabulary shared by every layer: events, sinks, run control, errors, paths.

stdlib only: nothing here imports torch, Qt or any other heavy library.
"""
