"""Fine-Tuning Studio: fine-tune pre-trained generative models on your own files."""

__version__ = "0.1.0"
