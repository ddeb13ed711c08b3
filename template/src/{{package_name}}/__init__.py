"""The example pipeline, one module per DVC stage: prepare -> train -> evaluate.

Each stage runs as `python -m <package>.<stage>` from the repository root (see dvc.yaml) and
reads its settings from params.yaml and evaluation/acceptance.yaml at run time, so changing a
parameter never means editing code.
"""
