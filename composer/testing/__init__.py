"""Support for composer's tests and benchmarks, importable wherever composer is installed (like ``numpy.testing``).

Nothing in the application imports this package; tests (``tests/``) and benchmarks (``bench/``) do:

* :mod:`composer.testing.smf` — Standard MIDI File bytes built by hand, for files no library would write;
* :mod:`composer.testing.hostile` — the hostile-input corpus (files built by rules to break a reader) and the
  judges of what a reader answers;
* :mod:`composer.testing.strategies` — hypothesis strategies for pieces;
* :mod:`composer.testing.training` — a tiny model configuration, small random songs, tiny ``composer train``
  arguments;
* :mod:`composer.testing.network` — a free loopback port;
* :mod:`composer.testing.benchmark` — results stamped with commit, date and machine, and
  ``bench/results/reliability.md`` assembled from its parts.
"""
