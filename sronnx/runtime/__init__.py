"""ONNX Runtime side: sessions, tiling, the upscaler (no torch)."""
