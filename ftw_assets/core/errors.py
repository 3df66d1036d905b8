"""Errors a user can act on: each message says what failed, why, and what to try."""


class FtwError(Exception):
    """A problem with the input or the environment that the user can fix."""


class InputError(FtwError):
    """The field-boundary file or a parameter cannot be used as given."""
