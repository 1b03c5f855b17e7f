"""The three taxonomies of the specification, as data.

- ``percepiano19``: the 19 PercePiano dimensions in label order, with the bipolar
  descriptors of its 7-point scale (Park et al. 2024; ``shared/data/README.md``).
  Stored as released: mean rating / 7, so values lie in [1/7, 1].
- ``execution16``: the lean, high-signal set of the evaluator guide (section 2): high means
  more of the named quality; values in [0, 1].
- ``technical12``: the technical and interpretive set of the deployment roadmap, rated 0-100
  in the labeling UI and stored in [0, 1]; high is better.

A short name can occur in several taxonomies with another scale or even the opposite
direction (``percepiano19.pedal_clarity`` runs clean → blurred, ``execution16.pedal_clarity``
blurred → clear), so a dimension's identity is ``taxonomy.name``.
"""

from __future__ import annotations

from pianoeval.constants import LABEL_RANGE
from pianoeval.dims._model import Taxonomy, make_taxonomy

PERCEPIANO19: Taxonomy = make_taxonomy(
    "percepiano19",
    version="1",
    title="PercePiano perceptual dimensions",
    source="PercePiano (Park et al., Scientific Reports 14:23002, 2024); label order as released",
    scale="7-point bipolar scale; stored as mean rating / 7, in [1/7, 1]; high = second descriptor",
    value_range=LABEL_RANGE,
    rows=[
        ("timing", "timing", "stable", "unstable", "How steady the pulse and note timing sound."),
        (
            "articulation",
            "articulation_length",
            "short",
            "long",
            "How long notes are held relative to their spacing (staccato to legato).",
        ),
        (
            "articulation",
            "articulation_touch",
            "soft/cushioned",
            "hard/solid",
            "How the key attack sounds: cushioned or hard.",
        ),
        ("pedal", "pedal_amount", "sparse/dry", "saturated/wet", "How much sustain pedal is used."),
        (
            "pedal",
            "pedal_clarity",
            "clean",
            "blurred",
            "Whether pedalling keeps harmonies clean or blurs them together.",
        ),
        (
            "timbre",
            "timbre_variety",
            "even",
            "colorful",
            "How much the tone colour changes through the passage.",
        ),
        ("timbre", "timbre_depth", "shallow", "rich", "How full and deep the tone sounds."),
        (
            "timbre",
            "timbre_brightness",
            "bright",
            "dark",
            "Whether the tone sounds bright or dark.",
        ),
        ("timbre", "timbre_loudness", "soft", "loud", "How loud the playing sounds overall."),
        (
            "dynamics",
            "dynamic_sophistication",
            "sophisticated/mellow",
            "raw/crude",
            "Whether dynamic changes sound refined or crude.",
        ),
        (
            "dynamics",
            "dynamic_range",
            "little",
            "large range",
            "How far apart the softest and loudest moments are.",
        ),
        ("music making", "pace", "fast paced", "slow paced", "How fast the music feels to move."),
        (
            "music making",
            "space",
            "flat",
            "spacious",
            "How much room (breath, time, resonance) the playing leaves.",
        ),
        (
            "music making",
            "balance",
            "disproportioned",
            "balanced",
            "How well voices and hands are balanced against each other.",
        ),
        (
            "music making",
            "drama",
            "pure",
            "dramatic/expressive",
            "How dramatic or expressive the playing is.",
        ),
        (
            "emotion & mood",
            "mood_valence",
            "optimistic/pleasant",
            "dark",
            "The emotional colour of the performance, pleasant to dark.",
        ),
        (
            "emotion & mood",
            "mood_energy",
            "low",
            "high energy",
            "How much energy the performance carries.",
        ),
        (
            "emotion & mood",
            "mood_imagination",
            "honest",
            "imaginative",
            "Whether the reading is straightforward or imaginative.",
        ),
        (
            "interpretation",
            "interpretation",
            "unsatisfactory/doubtful",
            "convincing",
            "How convincing the interpretation is as a whole.",
        ),
    ],
)

EXECUTION16: Taxonomy = make_taxonomy(
    "execution16",
    version="1",
    title="Execution, shaping and timbre",
    source="evaluator-guide.md, section 2 (dimension set)",
    scale="continuous in [0, 1]; high = more of the named quality",
    rows=[
        (
            "execution",
            "timing_stability",
            "jittery pulse",
            "steady pulse",
            "Steadiness of the beat-level pulse.",
        ),
        (
            "execution",
            "tempo_control",
            "erratic tempo",
            "controlled tempo",
            "Whether tempo changes are deliberate and controlled.",
        ),
        (
            "execution",
            "rhythmic_accuracy",
            "inaccurate rhythm",
            "accurate rhythm",
            "How closely note timing follows the notated rhythm.",
        ),
        (
            "execution",
            "articulation_length",
            "short, detached",
            "long, connected",
            "Realised note length against the spacing of notes.",
        ),
        (
            "execution",
            "articulation_hardness",
            "soft touch",
            "hard touch",
            "Hardness of the key attack.",
        ),
        (
            "execution",
            "pedal_density",
            "little pedal",
            "much pedal",
            "How much of the time the sustain pedal is down.",
        ),
        (
            "execution",
            "pedal_clarity",
            "blurred",
            "clear",
            "Whether pedal changes keep harmonies from smearing.",
        ),
        (
            "execution",
            "dynamic_range",
            "narrow",
            "wide",
            "Spread between the softest and loudest playing.",
        ),
        (
            "execution",
            "dynamic_control",
            "erratic dynamics",
            "controlled dynamics",
            "Smoothness and intent of dynamic changes.",
        ),
        (
            "execution",
            "balance_melody_vs_accomp",
            "accompaniment covers melody",
            "melody leads",
            "How clearly the melody sounds over the accompaniment.",
        ),
        (
            "shaping",
            "phrasing_continuity",
            "fragmented",
            "continuous phrasing",
            "Whether phrases are shaped as connected arcs.",
        ),
        (
            "shaping",
            "expressiveness_intensity",
            "plain",
            "intensely expressive",
            "Intensity of expressive shaping (timing, dynamics, colour).",
        ),
        (
            "shaping",
            "energy_level",
            "low energy",
            "high energy",
            "Energy and drive of the playing.",
        ),
        ("timbre", "timbre_brightness", "dark", "bright", "Brightness of the piano tone."),
        ("timbre", "timbre_richness", "thin", "rich", "Fullness and depth of the tone."),
        (
            "timbre",
            "timbre_color_variety",
            "uniform",
            "varied colour",
            "How much tone colour varies across the passage.",
        ),
    ],
)

TECHNICAL12: Taxonomy = make_taxonomy(
    "technical12",
    version="1",
    title="Technical and interpretive quality",
    source="deployment-roadmaps.md (annotation protocol)",
    scale="rated 0-100 in the labeling UI; stored as rating / 100 in [0, 1]; high = better",
    rows=[
        (
            "technical",
            "note_accuracy",
            "many wrong or missed notes",
            "all notes right",
            "Correct pitches: no wrong, missed or extra notes.",
        ),
        (
            "technical",
            "rhythmic_precision",
            "imprecise rhythm",
            "precise rhythm",
            "Precision of note timing against the intended rhythm.",
        ),
        (
            "technical",
            "dynamics_control",
            "uncontrolled dynamics",
            "controlled dynamics",
            "Command of loudness: gradations produced as intended.",
        ),
        (
            "technical",
            "articulation_quality",
            "poor articulation",
            "clean articulation",
            "Clarity and intent of legato, staccato and accents.",
        ),
        (
            "technical",
            "pedaling_technique",
            "poor pedalling",
            "excellent pedalling",
            "Timing and depth of pedal changes.",
        ),
        (
            "technical",
            "tone_quality",
            "harsh or thin tone",
            "beautiful tone",
            "Quality of the sound drawn from the instrument.",
        ),
        (
            "interpretive",
            "phrasing",
            "poor phrasing",
            "excellent phrasing",
            "Shaping of phrases: direction, breath and arrival.",
        ),
        (
            "interpretive",
            "expressiveness",
            "inexpressive",
            "highly expressive",
            "Expressive commitment and communication.",
        ),
        (
            "interpretive",
            "musical_interpretation",
            "unconvincing",
            "convincing",
            "Coherence and conviction of the reading.",
        ),
        (
            "interpretive",
            "stylistic_appropriateness",
            "out of style",
            "idiomatic",
            "Fit with the style and period of the work.",
        ),
        (
            "interpretive",
            "overall_musicality",
            "unmusical",
            "deeply musical",
            "Overall musical quality of the performance.",
        ),
        (
            "interpretive",
            "overall_technical_quality",
            "poor technique",
            "excellent technique",
            "Overall technical command of the performance.",
        ),
    ],
)
