"""What the simulated model says: music analysis made up from a track's features, deterministic
for a given request, with a token count of about four characters per token.

Nothing here knows HTTP or a provider's wire format. A request's digest seeds every choice, so
equal requests get equal answers; the features (tempo, key, energy, ...) are read from the prompt
when it names them and drawn from the digest when it does not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Answer",
    "Track",
    "digest_of",
    "ident",
    "pieces",
    "strings",
    "tokens_of",
    "tool_call",
    "vector",
]

LABEL = "[Simulated answer: made up locally, no model was asked.]"

_NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}
# Camelot wheel numbers, by tonic, for minor (A) and major (B) keys.
_CAMELOT_MINOR = {
    n: i for i, n in enumerate(["G#", "D#", "A#", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"], 1)
}
_CAMELOT_MAJOR = {
    n: i for i, n in enumerate(["B", "F#", "C#", "G#", "D#", "A#", "F", "C", "G", "D", "A", "E"], 1)
}

# (lowest BPM, genre, subgenres), by tempo band.
_BANDS: tuple[tuple[float, str, tuple[str, ...]], ...] = (
    (0, "ambient", ("drone", "downtempo", "neoclassical")),
    (72, "lo-fi", ("chillhop", "jazzhop", "bedroom pop")),
    (85, "hip hop", ("boom bap", "trap", "west coast")),
    (98, "r&b", ("neo-soul", "alternative r&b", "contemporary r&b")),
    (108, "pop", ("synth-pop", "dance-pop", "indie pop")),
    (116, "house", ("deep house", "tech house", "progressive house")),
    (126, "techno", ("melodic techno", "minimal techno", "peak-time techno")),
    (140, "synthwave", ("darksynth", "outrun", "dreamwave")),
    (160, "drum and bass", ("liquid", "neurofunk", "jump-up")),
)
_MOODS = {  # (high energy, bright) -> moods, most fitting first
    (True, True): ("euphoric", "uplifting", "playful"),
    (True, False): ("tense", "dark", "euphoric"),
    (False, True): ("calm", "uplifting", "playful"),
    (False, False): ("melancholic", "dark", "calm"),
}
_DESCRIPTORS = (
    "driving", "hypnotic", "warm", "airy", "punchy", "lush", "gritty", "nocturnal", "cinematic",
    "bouncy", "wistful", "glossy", "organic", "spacious", "brooding", "sun-drenched",
)  # fmt: skip
_STRENGTHS = (
    "the kick and bass sit in separate frequency ranges, so the low end stays clear",
    "the arrangement introduces a new element every eight bars, which keeps momentum",
    "the lead melody leaves room for the vocal instead of competing with it",
    "the groove has a consistent swing that locks the percussion together",
    "the breakdown builds tension with filtering rather than just volume",
)
_IMPROVEMENTS = (
    "high-pass the pads around 150 Hz so they stop clouding the bassline",
    "shorten the intro by eight bars; the hook arrives too late for a playlist listener",
    "add a contrasting section before the final chorus to make its return land",
    "automate the reverb send so the drop sounds drier and closer than the build",
    "sidechain the sustained synths lightly to the kick to open up the groove",
)


def tokens_of(text: str) -> int:
    """The simulator's token count: one per ~4 characters, at least one for any text."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def strings(value: Any) -> Iterable[str]:
    """Every string in a request part, in document order (what a tokenizer would read)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in ("type", "role", "cache_control"):
                yield from strings(v)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def digest_of(*parts: Any) -> bytes:
    """A stable hash of JSON-like parts: the seed of one answer."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()


def ident(prefix: str, digest: bytes, size: int = 24) -> str:
    """A provider-style identifier (``msg_...``, ``chatcmpl-...``) derived from a digest."""
    return prefix + base64.b32encode(digest).decode().lower().rstrip("=")[:size]


def vector(digest: bytes, size: int) -> list[float]:
    """A unit-length embedding of ``size`` dimensions, fixed by the digest."""
    rng = random.Random(digest)
    raw = [rng.gauss(0.0, 1.0) for _ in range(size)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


def pieces(text: str, rng: random.Random, words: tuple[int, int]) -> list[str]:
    """``text`` cut at word starts into pieces of ``words`` (lo, hi) words each, as a model's
    stream would deliver it; joined, the pieces are ``text`` exactly."""
    parts = re.split(r"(?<=\s)(?=\S)", text)
    out: list[str] = []
    i = 0
    while i < len(parts):
        n = rng.randint(*words)
        out.append("".join(parts[i : i + n]))
        i += n
    return out or [""]


def _number(pattern: str, text: str) -> float | None:
    found = re.search(pattern, text, re.IGNORECASE)
    return float(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class Track:
    """The features an answer reasons about."""

    tempo: float
    tonic: str  # a sharp-spelled note name
    minor: bool
    energy: float  # 0..1
    valence: float  # 0..1
    loudness: float  # dB (LUFS-like)

    @classmethod
    def read(cls, prompt: str, rng: random.Random) -> Track:
        """The features named in ``prompt`` (``tempo: 124 BPM``, ``key: A minor``, ...); any not
        named are drawn from ``rng``."""
        tempo = _number(r"(\d{2,3}(?:\.\d+)?)\s*bpm", prompt) or _number(
            r"tempo\W{1,4}(\d{2,3}(?:\.\d+)?)", prompt
        )
        key = re.search(r"\b([A-G])([#b]?)\s*(major|minor|maj|min)\b", prompt, re.IGNORECASE)
        if key:
            name = key.group(1).upper() + key.group(2)
            tonic = _FLATS.get(name, name)
            minor = key.group(3).lower().startswith("min")
        else:
            tonic, minor = rng.choice(_NOTES), rng.random() < 0.5
        energy = _number(r"energy\W{1,4}(0?\.\d+|[01](?:\.0+)?)\b", prompt)
        valence = _number(r"valence\W{1,4}(0?\.\d+|[01](?:\.0+)?)\b", prompt)
        loudness = _number(r"loudness\W{1,4}(-\d+(?:\.\d+)?)", prompt)
        return cls(
            tempo=tempo if tempo is not None else float(rng.randint(70, 175)),
            tonic=tonic,
            minor=minor,
            energy=energy if energy is not None else round(rng.uniform(0.2, 0.95), 2),
            valence=valence if valence is not None else round(rng.uniform(0.1, 0.9), 2),
            loudness=loudness if loudness is not None else round(rng.uniform(-18.0, -6.0), 1),
        )

    @property
    def key(self) -> str:
        return f"{self.tonic} {'minor' if self.minor else 'major'}"

    @property
    def camelot(self) -> str:
        table = _CAMELOT_MINOR if self.minor else _CAMELOT_MAJOR
        return f"{table[self.tonic]}{'A' if self.minor else 'B'}"

    @property
    def neighbours(self) -> list[str]:
        """Camelot keys that mix harmonically: one step round the wheel, and the relative key."""
        number, letter = int(self.camelot[:-1]), self.camelot[-1]
        other = "B" if letter == "A" else "A"
        return [
            f"{(number - 2) % 12 + 1}{letter}",
            f"{number % 12 + 1}{letter}",
            f"{number}{other}",
        ]

    @property
    def band(self) -> tuple[str, tuple[str, ...]]:
        genre, subs = _BANDS[0][1], _BANDS[0][2]
        for low, name, names in _BANDS:
            if self.tempo >= low:
                genre, subs = name, names
        return genre, subs

    @property
    def level(self) -> str:
        for top, name in ((0.35, "low"), (0.65, "medium"), (0.85, "high")):
            if self.energy < top:
                return name
        return "peak-time"

    @property
    def moods(self) -> tuple[str, ...]:
        return _MOODS[(self.energy >= 0.6, self.valence >= 0.5)]

    @property
    def loudness_verdict(self) -> str:
        if self.loudness > -9.0:
            return "too loud"
        return "too quiet" if self.loudness < -16.0 else "on target"

    @property
    def tempo_range(self) -> str:
        return f"{round(self.tempo * 0.94)}-{round(self.tempo * 1.06)} BPM"


class Answer:
    """The text of one answer, as the model would have produced it before any token limit: prose
    about the track, or JSON that fits ``schema``; cut to ``limit`` tokens when longer."""

    def __init__(
        self, digest: bytes, schema: Any = None, limit: int | None = None, prompt: str = ""
    ) -> None:
        self.rng = random.Random(digest)
        self.track = Track.read(prompt, self.rng)
        full = json.dumps(self.instance(schema)) if schema is not None else self._prose()
        self.truncated = limit is not None and tokens_of(full) > limit
        self.text = full[: limit * 4] if self.truncated and limit is not None else full
        self.tokens = tokens_of(self.text)

    # -- prose ------------------------------------------------------------------------------------

    def _prose(self) -> str:
        t, rng = self.track, self.rng
        genre, subs = t.band
        mood = rng.choice(t.moods[:2])
        sentences = [
            LABEL,
            f"At {t.tempo:g} BPM in {t.key}, the track sits squarely in {genre} territory, "
            f"closest to {rng.choice(subs)}.",
            rng.choice(
                (
                    f"An energy of {t.energy:.2f} and a valence of {t.valence:.2f} give it a "
                    f"{mood} feel.",
                    f"The {t.level} energy ({t.energy:.2f}) and "
                    f"{'bright' if t.valence >= 0.5 else 'darker'} harmony read as {mood}.",
                )
            ),
            f"For a DJ it is {t.camelot} on the Camelot wheel, so it blends into "
            f"{', '.join(t.neighbours)}; keep transitions within {t.tempo_range}.",
            f"At {t.loudness:g} LUFS it is {t.loudness_verdict} for streaming (about -14).",
            f"One thing to try: {rng.choice(_IMPROVEMENTS)}.",
        ]
        return " ".join(sentences[: 3 + rng.randint(1, 3)])

    def _sentence(self) -> str:
        return f"(simulated) {self.rng.choice(_STRENGTHS + _IMPROVEMENTS).capitalize()}."

    # -- JSON that fits a schema ------------------------------------------------------------------

    def instance(self, schema: Any, name: str = "", root: Any = None, depth: int = 0) -> Any:
        """A value that fits the JSON schema ``schema`` (objects, arrays, enums, ``$ref``,
        ``anyOf``, bounds), with music-minded values for fields with telling names."""
        root = schema if root is None else root
        if not isinstance(schema, dict) or depth > 8:
            return None
        if "$ref" in schema:
            return self.instance(_resolve(root, schema["$ref"]), name, root, depth + 1)
        for combo in ("anyOf", "oneOf", "allOf"):
            options = [o for o in schema.get(combo) or () if o.get("type") != "null"]
            if options:
                return self.instance(options[0], name, root, depth + 1)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self._choose(name, list(schema["enum"]))
        kind = schema.get("type", "object" if "properties" in schema else "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        kind = str(kind).lower()
        if kind == "object":
            props = schema.get("properties") or {}
            return {k: self.instance(v, k, root, depth + 1) for k, v in props.items()}
        if kind == "array":
            low = int(schema.get("minItems", 2))
            count = max(low, min(int(schema.get("maxItems", 3)), 3))
            if name in ("compatible_keys", "keys"):
                return self.track.neighbours[:count]
            return [self.instance(schema.get("items"), name, root, depth + 1) for _ in range(count)]
        if kind in ("integer", "number"):
            return self._number(name, schema, kind == "integer")
        if kind == "boolean":
            return self.rng.random() < 0.5
        return self._text(name)

    def _choose(self, name: str, options: list[Any]) -> Any:
        t = self.track
        wanted: tuple[str, ...] = {
            "genre": (t.band[0],),
            "mood": t.moods,
            "energy": (t.level,),
            "loudness": (t.loudness_verdict,),
            "camelot": (t.camelot,),
            "key": (t.key,),
        }.get(name, ())
        for value in wanted:
            if value in options:
                return value
        return self.rng.choice(options)

    def _number(self, name: str, schema: dict[str, Any], integer: bool) -> float | int:
        t = self.track
        known = {"tempo": t.tempo, "bpm": t.tempo, "energy": t.energy, "valence": t.valence}
        value: float = known.get(name, self.rng.uniform(55, 95) if name == "confidence" else 0.0)
        if name not in known and name != "confidence":
            value = self.rng.uniform(0, 200)
        low, high = schema.get("minimum"), schema.get("maximum")
        if name == "confidence" and high is not None and high <= 1:
            value /= 100
        if low is not None:
            value = max(value, float(low))
        if high is not None:
            value = min(value, float(high))
        return round(value) if integer else round(value, 2)

    def _text(self, name: str) -> str:
        t, rng = self.track, self.rng
        genre, subs = t.band
        known = {
            "genre": genre,
            "subgenre": rng.choice(subs),
            "mood": t.moods[0],
            "key": t.key,
            "camelot": t.camelot,
            "tempo_range": t.tempo_range,
            "descriptors": rng.choice(_DESCRIPTORS),
            "tags": rng.choice(_DESCRIPTORS),
            "low_end": f"(simulated) The low end is {'tight' if t.energy > 0.5 else 'soft'}; "
            f"{rng.choice(_IMPROVEMENTS)}.",
            "stereo_image": "(simulated) The stereo image is wide in the pads and mono in the "
            "kick and bass, as it should be.",
        }
        if name in known:
            return known[name]
        if name in ("reasoning", "explanation", "rationale", "summary", "description"):
            return (
                f"(simulated) {t.tempo:g} BPM, {t.key} and energy {t.energy:.2f} point to "
                f"{genre}, most like {rng.choice(subs)}."
            )
        if name in ("strengths", "strength"):
            return f"(simulated) {rng.choice(_STRENGTHS).capitalize()}."
        if name in ("improvements", "next_step", "fix_first", "improvement", "fix"):
            return f"(simulated) {rng.choice(_IMPROVEMENTS).capitalize()}."
        return f"{rng.choice(_DESCRIPTORS)} {genre}"


def _resolve(root: Any, ref: str) -> Any:
    """The part of ``root`` a local ``$ref`` (``#/$defs/Name``) points at, or None."""
    node = root
    for part in ref.lstrip("#/").split("/") if ref.startswith("#") else ["\0"]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def tool_call(
    digest: bytes, tools: dict[str, Any], forced: str | None, prompt: str
) -> tuple[str, str]:
    """The tool a model must call (``forced``, or one of ``tools`` chosen by the digest: name to
    JSON schema of its arguments) and its arguments as JSON text that fits that schema."""
    if not tools:
        raise ValueError("a tool call is required but no tools were given")
    if forced is not None and forced not in tools:
        raise ValueError(f"tool {forced!r} is not among the tools given")
    names = sorted(tools)
    name = forced if forced is not None else names[digest[0] % len(names)]
    schema = tools[name] or {"type": "object", "properties": {}}
    arguments = Answer(digest_of(digest.hex(), name), None, None, prompt).instance(schema)
    return name, json.dumps(arguments)
