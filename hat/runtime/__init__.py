"""Running exported SubTransformers on inference engines."""
