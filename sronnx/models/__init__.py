"""Shipped pretrained ONNX models (data files)."""
