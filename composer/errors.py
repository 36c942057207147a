"""The one exception type that crosses the edge of the program.

Bad input is stopped where it enters (a file, a command-line flag, an upload) and reported as an
:class:`InputError` whose message is one sentence for the musician: what was wrong and what to do.
The CLI prints it and exits with code 2; the studio shows it.  Nothing inside the core raises it for
its own mistakes.
"""


class InputError(ValueError):
    """Input the program cannot use; ``str(error)`` is a complete sentence for the user."""
