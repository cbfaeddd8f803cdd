"""The studio window: the only package that imports PySide6 and pyqtgraph.

Start it with ``studio gui`` (``studio.qt.app.main``). Heavy imports (torch, the engine,
pyqtgraph) are lazy so the first window paints fast.
"""
