"""The one exception type of the preparation step."""


class PrepareError(Exception):
    """A problem with the user's input or output location.

    The message is a single line that names the file and the problem; the
    command-line interface prints it and exits with status 2.
    """
