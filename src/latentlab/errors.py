"""The one exception a user can cause. The CLI prints its message as one line and exits 2."""


class UserError(Exception):
    """Bad input: a wrong path, a missing or corrupt file, a config typo, a diverged loss.

    The message says what was wrong, where, and what to do about it.
    """
