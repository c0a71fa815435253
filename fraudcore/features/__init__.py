"""Feature logic shared by training and every inference path (one pandas/NumPy implementation)."""
