"""Exporting SubTransformers to other model formats."""
