"""Recipes: what it takes to run a paper's method in each profile.

One module per paper holds its backbones for the quick and the paper profile, the chapter's data
and quick settings, and the one runner that trains one model of a table under a
:class:`~rmm_lib.context.RunContext`. Recipes sit above the methods (:mod:`rmm_lib.methods`, models
and losses only) and below the tables (:mod:`rmm_lib.tables`, the papers' numbers and registrations).
"""
