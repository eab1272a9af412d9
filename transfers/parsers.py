"""The operator API's one JSON parser: bounded, so a hostile body is a 400, never a 500.

DRF's stock parser hands the body to the standard library, which exhausts the stack on a body
nested a few thousand levels deep (RecursionError: a server error). This one parses with
orjson (which refuses anything deeper than 1,024 levels itself) and then refuses any body
nested deeper than `MAX_JSON_DEPTH`, the same limit a `json` field of an uploaded row has.
"""

from __future__ import annotations

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from transfers.validation import MAX_JSON_DEPTH, json_depth


class BoundedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"the body is not valid JSON ({exc.msg})") from exc
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        return data
