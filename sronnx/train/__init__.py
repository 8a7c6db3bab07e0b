"""Training (torch)."""
