"""The recipe runner: `run_recipe(argv, default_task)` (run.py), the recipe defaults of each task kind
(specs.py), evaluators by name (evaluators.py), the command line (args.py), image data (image_data.py).

Import `run_recipe` from `avssl.runner.run`; this package module imports nothing, so importing one part
(e.g. the evaluators) does not load the others.
"""
