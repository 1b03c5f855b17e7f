"""Constants shared by several units, each defined once (units in the names).

Everything here is plain data: importing it costs nothing, and every unit may read it.
"""

from __future__ import annotations

#: MIDI convention for the sustain, sostenuto and soft pedals: controller values >= 64
#: mean "pedal down". Half-pedalling stays visible in the raw values.
PEDAL_DOWN = 64

#: Notes starting within this window of a cluster's first onset form one chord (seconds).
#: Performed chords spread over 10-40 ms; a wider window would swallow fast passagework.
CHORD_WINDOW_SEC = 0.05
#: The same for scores and score renditions, whose chords are exact.
SCORE_CHORD_WINDOW_SEC = 0.01

#: PercePiano labels are mean ratings of a 7-point scale divided by 7, so the lowest
#: possible value (every rater answered 1) is 1/7 and the highest 1.
LABEL_FLOOR = 1.0 / 7.0
LABEL_CEILING = 1.0
LABEL_RANGE = (LABEL_FLOOR, LABEL_CEILING)

#: Too little music to rate: fewer notes than this ...
MIN_NOTES_TO_RATE = 8
#: ... or less time than this from the first onset to the last offset (seconds).
MIN_MUSIC_SEC = 2.0
#: The raters learned from passages of this length (seconds): shorter or longer input is
#: rated, with a warning.
TRAINED_DURATION_SEC = (10.0, 20.0)
#: A score is used for rating only when at least this share of its notes, and of the
#: performance's notes, are matched by the alignment: a score of another piece (or of a
#: much longer or shorter passage) would make every score-relative feature meaningless.
MIN_SCORE_MATCH_FRAC = 0.5

#: File suffixes read as performance MIDI and as audio (lower case).
MIDI_SUFFIXES = frozenset({".mid", ".midi"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3"})
