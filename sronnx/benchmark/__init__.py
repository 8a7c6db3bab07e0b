"""The benchmark behind `sronnx bench`: quality and speed rows per model, dataset and runtime.

One module per job: `machine` (what the numbers were measured on), `models` (what is
measured), `quality` (the published evaluation protocol), `speed` (latency and throughput per
runtime), `peers` (OpenCV's dnn_superres, for comparison), `rows` (the result schema),
`runner` (puts them together), `report` and `plot` (terminal, JSON, Markdown, PNG), and the
architecture study (`recipe`, `study`, `study_report`).

Quality and speed on ONNX Runtime need no torch: torch is imported only for the `torch`
runtime and by the study, which trains.
"""
