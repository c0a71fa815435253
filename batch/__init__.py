"""Batch fraud scoring on Spark: ``python -m batch --date-from D --date-to D`` (``make batch``)."""
