"""The JSON parser of every REST endpoint: a hostile body is a 400, never a crash.

DRF's own JSONParser turns only ValueError into a 400. A body nested thousands of levels
deep makes the decoder raise RecursionError instead (a 500), and text holding NUL or a
lone surrogate (written as \\u0000 or \\ud800 in JSON) parses fine but cannot be stored:
PostgreSQL refuses NUL in text and UTF-8 cannot encode a lone surrogate.
"""

import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .errors import DomainError

# Real bodies are a few levels deep (ticket -> transcript -> turn); the limit keeps code
# that walks the data recursively later (serializers, hashing, logging) far from Python's
# recursion limit.
MAX_DEPTH = 32

# In a decoded str a surrogate code point is always a lone one: JSON escapes of a valid
# pair are combined into one character by the decoder.
FORBIDDEN_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


def has_forbidden_characters(text: str) -> bool:
    return FORBIDDEN_CHARACTERS.search(text) is not None


def invalid_characters_error(where: str) -> DomainError:
    return DomainError(
        "invalid_characters",
        f"The {where} contains a NUL character or an unpaired UTF-16 surrogate, which cannot be stored.",
    )


def check_json_tree(data) -> None:
    """Refuse too deep nesting and unstorable characters in keys and values.

    Iterative on purpose: a recursive walk would itself hit the recursion limit."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if has_forbidden_characters(value):
                raise invalid_characters_error("request body")
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise ParseError(f"JSON parse error - the body is nested deeper than {MAX_DEPTH} levels.")
            if isinstance(value, dict):
                for key, item in value.items():
                    if has_forbidden_characters(key):
                        raise invalid_characters_error("request body")
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - the body is nested deeper than {MAX_DEPTH} levels.") from None
        check_json_tree(data)
        return data
