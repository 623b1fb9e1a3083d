"""Plan files: YAML in, a validated ``Plan`` (model.py) out, with every error at once and its line.

``load.py`` walks the document, ``yaml_nodes.py`` reads typed values off YAML nodes,
``analysis_spec.py`` the analysis blocks, ``rules.py`` the limits and cross-field checks,
``summary.py`` the one-paragraph summary ``validate`` prints. Pure: no I/O beyond reading
the file.
"""
