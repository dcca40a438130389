"""Methods brought to the comparison's footing from outside the library's own papers, each one
file that builds its model and registers it with :func:`rmm_lib.footing.register` -- as a
researcher's own module would. Importing this package registers them:

* ``map`` -- missing-aware prompts (Lee et al. 2023), :mod:`rmm_lib.contributed.map`.
"""
from . import map  # noqa: F401  (registers "map")
