"""Training engine: torch, torchvision and numpy only, never Django.

The same code runs inside the web app's Celery task (`training.engine.runner.run`), from the
command line (`python -m training.engine train --config FILE key=value ...`) and under torchrun.
"""
