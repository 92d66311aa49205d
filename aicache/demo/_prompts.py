"""What SampleMind asks: one system prompt, a JSON schema and an instruction per analysis type.

The prompt is built from *normalised* features: floats rounded (by the same rule as
``@ai_cached(round_floats=...)``), keys and modes spelled out, fields in a fixed order. Two
extractions of one track that differ in the sixth decimal therefore send the same request, and
the cache serves the second from the first.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import orjson

from .._errors import KeyBuildError
from .._keys import canonical

__all__ = ["SYSTEM", "AnalysisType", "normalise", "prompt", "schema", "summary"]

#: Digits kept of every float feature: tempo 120.0001 and 120.0 are one request.
DIGITS = 2

_NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_KNOWN = (
    "tempo",
    "key",
    "mode",
    "time_signature",
    "energy",
    "danceability",
    "loudness",
    "valence",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "liveness",
    "duration_s",
)
_UNITS = {"tempo": " BPM", "loudness": " dB", "duration_s": " s"}


class AnalysisType(str, enum.Enum):
    GENRE_CLASSIFICATION = "genre_classification"
    MOOD_ENERGY = "mood_energy"
    PRODUCTION_COACHING = "production_coaching"
    MIXING_FEEDBACK = "mixing_feedback"
    HARMONIC_MIXING = "harmonic_mixing"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


SYSTEM = (
    "You are SampleMind, an experienced music producer, mix engineer and DJ. You are given the "
    "audio features of one track, as measured by an analyser. Answer only with JSON that "
    "matches the schema you are given; be specific and practical."
)

_INSTRUCTIONS = {
    AnalysisType.GENRE_CLASSIFICATION: (
        "Classify the track's genre and subgenre from its features, with a confidence from 0 to "
        "100 and one sentence of reasoning."
    ),
    AnalysisType.MOOD_ENERGY: (
        "Describe the track's mood and energy: one mood word, an energy level and three "
        "descriptors a music supervisor would search for."
    ),
    AnalysisType.PRODUCTION_COACHING: (
        "Coach the producer: two strengths, two concrete improvements and the single next step "
        "that would most improve the track."
    ),
    AnalysisType.MIXING_FEEDBACK: (
        "Give mixing feedback: judge the loudness for streaming (about -14 LUFS), and comment on "
        "the low end, the stereo image and what to fix first."
    ),
    AnalysisType.HARMONIC_MIXING: (
        "For a DJ: give the track's Camelot key, the keys it mixes into harmonically, and a tempo "
        "range for smooth transitions."
    ),
}

_GENRES = [
    "house",
    "techno",
    "drum and bass",
    "hip hop",
    "pop",
    "rock",
    "indie folk",
    "ambient",
    "r&b",
    "lo-fi",
    "synthwave",
    "jazz",
]


def _obj(**props: Any) -> dict[str, Any]:
    # Strict structured output (OpenAI) wants every property required and nothing else allowed.
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


_STR: dict[str, Any] = {"type": "string"}
_STRS: dict[str, Any] = {"type": "array", "items": _STR}

_SCHEMAS: dict[AnalysisType, dict[str, Any]] = {
    AnalysisType.GENRE_CLASSIFICATION: _obj(
        genre={"type": "string", "enum": _GENRES},
        subgenre=_STR,
        confidence={"type": "integer"},
        reasoning=_STR,
    ),
    AnalysisType.MOOD_ENERGY: _obj(
        mood={
            "type": "string",
            "enum": ["euphoric", "melancholic", "calm", "tense", "uplifting", "dark", "playful"],
        },
        energy={"type": "string", "enum": ["low", "medium", "high", "peak-time"]},
        descriptors=_STRS,
    ),
    AnalysisType.PRODUCTION_COACHING: _obj(strengths=_STRS, improvements=_STRS, next_step=_STR),
    AnalysisType.MIXING_FEEDBACK: _obj(
        loudness={"type": "string", "enum": ["too quiet", "on target", "too loud"]},
        low_end=_STR,
        stereo_image=_STR,
        fix_first=_STR,
    ),
    AnalysisType.HARMONIC_MIXING: _obj(
        camelot={
            "type": "string",
            "enum": [f"{n}{m}" for m in ("A", "B") for n in range(1, 13)],
        },
        compatible_keys=_STRS,
        tempo_range=_STR,
    ),
}


def schema(kind: AnalysisType) -> dict[str, Any]:
    return _SCHEMAS[kind]


def normalise(features: dict[str, Any]) -> dict[str, Any]:
    """Features as plain data, floats rounded to :data:`DIGITS`, non-finite numbers refused."""
    if not isinstance(features, dict):
        raise TypeError(f"features must be a dict of audio features, not {type(features).__name__}")
    try:
        data: dict[str, Any] = canonical(features, "features", round_floats=DIGITS)
    except KeyBuildError as exc:
        raise TypeError(str(exc)) from None
    for name, value in data.items():
        if isinstance(value, dict):  # canonical() tags NaN, ±Inf and exotic values
            raise ValueError(f"features[{name!r}] must be a finite number or text, not {value}")
    return data


def _spell(name: str, value: Any, features: dict[str, Any]) -> str:
    if name == "key" and isinstance(value, int) and 0 <= value < 12:
        mode = features.get("mode")
        scale = {1: " major", 0: " minor"}.get(mode, "") if isinstance(mode, int) else ""
        return _NOTES[value] + scale
    if name == "mode" and value in (0, 1):
        return "major" if value == 1 else "minor"
    if isinstance(value, float) and value == math.floor(value) and name != "tempo":
        value = int(value)
    return f"{value}{_UNITS.get(name, '')}"


def prompt(features: dict[str, Any], kind: AnalysisType) -> str:
    """The user message for one analysis of one track's normalised features."""
    names = [n for n in _KNOWN if n in features] + sorted(n for n in features if n not in _KNOWN)
    lines = [f"- {n}: {_spell(n, features[n], features)}" for n in names if features[n] is not None]
    return f"Analysis: {kind.label}.\n{_INSTRUCTIONS[kind]}\n\nTrack features:\n" + "\n".join(lines)


def summary(kind: AnalysisType, text: str) -> str:
    """A short line for tables: the answer's headline fields, or the start of the text."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        flat = " ".join(text.split())
        return flat[:48] + ("..." if len(flat) > 48 else "")
    if kind is AnalysisType.GENRE_CLASSIFICATION:
        return f"{doc.get('genre')} ({doc.get('confidence')}% sure)"
    if kind is AnalysisType.MOOD_ENERGY:
        return f"{doc.get('mood')}, {doc.get('energy')} energy"
    if kind is AnalysisType.PRODUCTION_COACHING:
        return f"next: {doc.get('next_step')}"
    if kind is AnalysisType.MIXING_FEEDBACK:
        return f"loudness {doc.get('loudness')}; fix: {doc.get('fix_first')}"
    return f"Camelot {doc.get('camelot')}, {doc.get('tempo_range')}"
