"""A JSON parser that turns every undecodable body into PARSE_ERROR (never a 500)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
        except UnicodeError as exc:
            raise ParseError("JSON parse error - the body is not valid UTF-8.") from exc
