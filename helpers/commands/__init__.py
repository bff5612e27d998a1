"""Commands: the pre-flight check, the reset and the command line that indexes a big folder.

Run them from a terminal (`make check`, `make reset`, `python -m helpers.commands.index_folder FOLDER`)
or call them from notebooks 01 and 06.
"""

from helpers._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "checks": ["format_results", "run_checks"],
    "reset": ["reset_learner_state"],
    "index_folder": ["describe_estimate"],
})
