"""The media types of GraphQL over HTTP: which bodies are read, and which response a client accepts.

Following https://graphql.github.io/graphql-over-http/draft/: ``application/graphql-response+json``
when a client asks for it, ``application/json`` otherwise (the default, and what SPEC.md promises).
"""

from __future__ import annotations

from enum import StrEnum

# How specifically an Accept range names a type: */*, application/*, application/json.
_ANY, _SUBTYPE_WILDCARD, _EXACT = 0, 1, 2


class MediaType(StrEnum):
    JSON = "application/json"
    GRAPHQL_RESPONSE = "application/graphql-response+json"

    @property
    def content_type(self) -> str:
        # JSON is UTF-8 by definition (RFC 8259); the newer type spells it out, as the spec's examples do.
        return self.value if self is MediaType.JSON else f"{self.value}; charset=utf-8"

    @property
    def status_before_execution(self) -> int:
        """The status of a response without ``data``: refused before execution started (a document
        that does not parse or validate, bad variables). ``application/json`` keeps 200 (the spec's
        legacy rule, which SPEC.md promises); the newer type tells it by a 4xx, as the spec requires."""
        return 200 if self is MediaType.JSON else 400


def unsupported_body(content_type: str | None) -> str | None:
    """Why a POST body of ``content_type`` is not read, or None when it is JSON.

    Only JSON types: a form or ``text/plain`` is what a browser sends cross-site without a preflight
    (a "simple request"), so reading those would let any web page run a signed-in user's mutations."""
    media_type, parameters = _split(content_type or "")
    if media_type not in {MediaType.JSON, MediaType.GRAPHQL_RESPONSE}:
        shown = f"'{content_type}'" if content_type else "no Content-Type"
        return f"The body is sent as {shown}; send it as '{MediaType.JSON}'."
    charset = parameters.get("charset", "utf-8")
    if charset.lower() != "utf-8":
        return f"The body is sent in the charset '{charset}'; JSON is sent as UTF-8."
    return None


def response_media_type(accept: str | None) -> MediaType | None:
    """The media type to answer in, or None when ``accept`` allows neither JSON type (406).

    The quality values decide; on a tie the newer type wins when it is named, and JSON when both
    only match a wildcard (a client sending ``*/*`` gets what it got before the newer type existed)."""
    if accept is None or not accept.strip():
        return MediaType.JSON
    ranges = [_split(item) for item in accept.split(",")]
    scores = {media_type: _score(media_type, ranges) for media_type in MediaType}
    acceptable = {media_type: score for media_type, score in scores.items() if score and score[0] > 0}
    if len(acceptable) < 2:
        return next(iter(acceptable), None)
    (json_quality, _), (newer_quality, newer_specificity) = (
        acceptable[MediaType.JSON],
        acceptable[MediaType.GRAPHQL_RESPONSE],
    )
    if newer_quality != json_quality:
        return MediaType.GRAPHQL_RESPONSE if newer_quality > json_quality else MediaType.JSON
    return MediaType.GRAPHQL_RESPONSE if newer_specificity == _EXACT else MediaType.JSON


def _split(header_item: str) -> tuple[str, dict[str, str]]:
    """``type/subtype; name=value`` as the lower-cased type and its parameters."""
    media_type, *parameters = header_item.split(";")
    pairs = (parameter.partition("=") for parameter in parameters)
    return media_type.strip().lower(), {
        name.strip().lower(): value.strip().strip('"') for name, _, value in pairs
    }


def _score(media_type: str, ranges: list[tuple[str, dict[str, str]]]) -> tuple[float, int] | None:
    """(quality, specificity) of the most specific range of ``ranges`` matching ``media_type``."""
    main_type = media_type.split("/")[0]
    specificity_of = {"*/*": _ANY, f"{main_type}/*": _SUBTYPE_WILDCARD, media_type: _EXACT}
    best: tuple[float, int] | None = None
    for media_range, parameters in ranges:
        specificity = specificity_of.get(media_range)
        if specificity is None or (best is not None and best[1] >= specificity):
            continue
        try:
            quality = float(parameters.get("q", "1"))
        except ValueError:
            continue  # a range with a garbled quality is ignored, not guessed at
        best = (min(max(quality, 0.0), 1.0), specificity)
    return best
