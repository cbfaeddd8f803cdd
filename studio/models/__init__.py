"""Model families: one module each, all satisfying ``studio.models.base.Family``."""
