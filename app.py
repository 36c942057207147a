"""The composer studio's launcher: ``python app.py`` serves the studio on 127.0.0.1:7860, offline.

The studio itself lives in the package (:mod:`composer.studio`: the store, the renderer, the page), so that
``composer studio`` serves the same page from an installed package; this file stays at the top of the checkout
because that is where people (and the design card) look for a Gradio app.  ``./run.sh studio`` runs it.
The standard Gradio variables (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT) override host and port;
``COMPOSER_STUDIO_DB`` sets the SQLite file, ``COMPOSER_MODELS`` the folder of extra checkpoints.
"""

from __future__ import annotations

from composer.studio.ui import serve

if __name__ == "__main__":
    serve()
