"""Errors with messages meant for the user.

A MediaError's message is stored in the library as the item's failure reason and
shown by ``emobrowser failures``, so it must say specifically what is wrong.
"""


class EmobrowserError(Exception):
    """Base class for errors the project raises on purpose."""


class MediaError(EmobrowserError):
    """A file could not be decoded or scored; the message says why."""


class ModelError(EmobrowserError):
    """A model could not be loaded or used."""
