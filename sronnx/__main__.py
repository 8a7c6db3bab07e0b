"""`python -m sronnx` runs the command line."""

from sronnx.cli import main

main()
