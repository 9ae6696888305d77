"""Why a change was made: the message every registry event and change request carries.

One rule for what a user may record (:func:`checked`), and one for showing what a log
holds (:func:`cut`): logs are committed files that anyone who can push may have written,
and records older than the rule may hold longer messages, so whatever shows a message
bounds it first.
"""

from __future__ import annotations

from gitmodel.errors import UserError
from gitmodel.text import is_utf8

MESSAGE_LIMIT = 4000  # characters; a longer reason belongs in a linked document


def checked(message: str, verb: str, required: bool = False) -> str:
    """``message`` as recorded (stripped); a user error when it is longer than
    :data:`MESSAGE_LIMIT`, or empty where ``required``."""
    why = utf8(message.strip(), f"the {verb} message")
    if required and not why:
        raise UserError(f"{verb} needs a reason", hint='add -m "why"')
    if len(why) > MESSAGE_LIMIT:
        raise UserError(
            f"the {verb} message is {len(why):,} characters, longer than the "
            f"{MESSAGE_LIMIT:,} a record keeps",
            hint="keep it short and link to the details",
        )
    return why


def utf8(text: str, what: str) -> str:
    """``text``, when it is Unicode text a record can hold; a user error naming ``what``
    when it holds bytes that were not UTF-8 (an argument from a Latin-1 terminal reaches
    Python as lone surrogates, which no JSON record may hold)."""
    if not is_utf8(text):
        raise UserError(
            f"{what} is not UTF-8 text",
            hint="write it in UTF-8 (see your terminal's or the file's encoding)",
        )
    return text


def cut(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """A message from a log, at most ``limit`` characters (an ellipsis ends one cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
