"""Architectures (torch). Build them through `sronnx.registry.create_model`."""
