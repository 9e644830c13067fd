"""Errors the user can act on: the command line prints them as one line and exits 1."""


class CommandError(Exception):
    pass
