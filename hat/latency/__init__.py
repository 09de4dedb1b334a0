"""Hardware latency: measurement, latency datasets (CSV) and latency predictors."""
