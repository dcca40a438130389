"""One module per released dataset: ``prepare(...)`` turns the files as their owners release them
into the prepared format (:mod:`rmm_lib.data.prepared`); ``main(argv)`` is its command line,
called by ``data_scripts/prepare_<name>.py``."""
