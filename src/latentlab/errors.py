"""The exceptions a user can cause. The CLI prints the message as one line and exits 2 (130 when interrupted)."""


class UserError(Exception):
    """Bad input: a wrong path, a missing or corrupt file, a config typo, a diverged loss.

    The message says what was wrong, where, and what to do about it.
    """


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped training after a checkpoint; the message says how to continue.

    The CLI exits 130, as shells report a command ended by Ctrl-C (128 + SIGINT)."""

    exit_status = 130
