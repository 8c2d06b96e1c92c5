"""The names ``fusiondp.pipeline`` held before it was split, for scripts written against it.

A script exported by the dashboard before the split (``fusiondp_run.py``) starts with
``from fusiondp.pipeline import curve_runs, prepare, save_results``; notebooks and user code imported
``prepare``, ``train_run`` and friends from here too. The code now lives in ``fusiondp.preparation``
(once per table) and ``fusiondp.runs`` (one model and its record); this module keeps those imports
working and is what nothing inside the library imports (``tests/test_import_graph.py``).
"""

from __future__ import annotations

from fusiondp.preparation import channels_for, prepare, prepare_splits, split_for
from fusiondp.runs import curve_runs, fit_run, fit_runs, model_inputs, run, save_results, train_run, with_epsilon

__all__ = ["channels_for", "curve_runs", "fit_run", "fit_runs", "model_inputs", "prepare", "prepare_splits", "run",
           "save_results", "split_for", "train_run", "with_epsilon"]
