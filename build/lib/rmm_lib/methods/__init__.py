"""The three papers' methods, one explicit file each (``trml.py``, ``mla.py``, ``cmpt.py``).

Each method is an ``nn.Module`` that follows the trainer's contract (:mod:`rmm_lib.train`) and
cites its paper's equation numbers in its docstrings. They arrive with their chapters.
"""
