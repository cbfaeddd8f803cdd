"""Qt-free GUI state: plain Python objects the panes are views of. No torch, no Qt."""
