"""The layer tree: a model shown as a tree you tick, with an unfreeze timeline you drag."""

from studio.qt.layer_tree.pane import DiscriminativeDialog, LayerTreePane
from studio.qt.layer_tree.timeline import Track, UnfreezeTimeline

__all__ = ["DiscriminativeDialog", "LayerTreePane", "Track", "UnfreezeTimeline"]
