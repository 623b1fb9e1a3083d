"""Operator drills: scripted incidents played on the demo while someone responds.

Pure: ``model`` (the scenario), ``load`` (YAML -> Scenario, line-numbered errors),
``timeline`` (what is due when), ``scoring`` (verdict and figures), ``report`` (text and
JSON). I/O: ``catalog`` (built-in scenario files, the report log), ``play`` (plays a
scenario on a running demo). The format is documented in docs/drills.md.
"""
