"""Dock panes: each is the Qt view of one Qt-free state object (studio.state)."""
