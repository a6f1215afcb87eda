"""Docstrings assembled from shared pieces.

Several estimators and functions document the same parameters; the text is
written once, as a piece, and a docstring names it with a ``{field}``
placeholder, as in :meth:`str.format`. :func:`format_doc` fills a template
and :func:`fill_doc` does it for the docstring of the function or class it
decorates.

A piece spanning several lines is written without leading indentation; its
lines are indented to the column of the line that holds the placeholder, so
one piece serves a class docstring (indented 4) and a method's (indented 8).
Only the fields given are filled: other braces (``{'pgd', 'lbfgs'}``, a
dict in an example's output) are text and need no escaping.
"""

import re
import textwrap
from collections.abc import Callable
from typing import TypeVar

__all__ = ["fill_doc", "format_doc"]

#: A documented function or class, kept with its type by :func:`fill_doc`.
_Documented = TypeVar("_Documented")


def format_doc(template: str, /, **pieces: str) -> str:
    """``template`` with its ``{field}`` placeholders filled from ``pieces``.

    Parameters
    ----------
    template : str
        Text with a ``{field}`` placeholder for each piece.
    **pieces : str
        The text of each field. Leading and trailing blank lines are
        dropped, the common indentation of its lines removed, and every line
        after the first indented like the line holding the placeholder.

    Returns
    -------
    text : str

    Raises
    ------
    ValueError
        When a piece has no placeholder in ``template``: a misspelt field
        would otherwise leave its piece out silently.

    Examples
    --------
    >>> piece = '''
    ...     x : float
    ...         A number.'''
    >>> print(format_doc('''Parameters
    ...     ----------
    ...     {params}
    ...     y : {0, 1}''', params=piece))
    Parameters
        ----------
        x : float
            A number.
        y : {0, 1}
    """
    pieces = {name: textwrap.dedent(text).strip("\n") for name, text in pieces.items()}
    missing = [name for name in pieces if "{" + name + "}" not in template]
    if missing:
        raise ValueError(f"the template has no placeholder for {missing}")
    field = re.compile(r"\{(" + "|".join(map(re.escape, pieces)) + r")\}")
    return "\n".join(_fill_line(line, field, pieces) for line in template.split("\n"))


def _fill_line(line, field, pieces):
    """One line of a template with its placeholders filled, indented like the line."""
    indent = line[: len(line) - len(line.lstrip())]

    def piece(match):
        first, *rest = pieces[match.group(1)].split("\n")
        return "\n".join([first] + [indent + text if text.strip() else "" for text in rest])

    return field.sub(piece, line)


def fill_doc(**pieces: str) -> Callable[[_Documented], _Documented]:
    """Decorator filling the placeholders of a function's or class's docstring.

    The docstring is a template for :func:`format_doc`; without one (Python
    run with ``-OO``) the object is returned unchanged.

    Parameters
    ----------
    **pieces : str
        The text of each field.

    Returns
    -------
    decorate : callable
        Sets ``obj.__doc__`` and returns ``obj``.

    Examples
    --------
    >>> @fill_doc(returns="The sum.")
    ... def add(a, b):
    ...     '''Add two numbers: {returns}'''
    ...     return a + b
    >>> add.__doc__
    'Add two numbers: The sum.'
    """

    def decorate(obj: _Documented) -> _Documented:
        if obj.__doc__ is not None:
            obj.__doc__ = format_doc(obj.__doc__, **pieces)
        return obj

    return decorate
