"""Tools on top of the pipeline: benchmarks, reports, QA samples, imports, notebook helpers."""
