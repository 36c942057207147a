"""The studio, the musician's desk: bring a seed, hear takes, keep one, continue, undo, branch, export.

``store`` keeps pieces and their history trees (SQLite); ``seed`` reads an uploaded seed for storing;
``render`` makes a take's audio, piano roll and score; ``ui`` is the Gradio page, its handlers and
:func:`composer.studio.ui.serve`, the entry of ``composer studio`` and ``python app.py``.  Importing the
package imports none of them.
"""
