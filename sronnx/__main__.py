"""`python -m sronnx`: the same CLI as the `sronnx` command."""

from sronnx.cli import main

main()
