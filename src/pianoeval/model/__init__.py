"""Models that map rater inputs to dimension scores.

:mod:`pianoeval.model.symbolic` is the symbolic rater (boosted trees and a ridge
regression on performance features) with its save/load; nothing here knows a dataset.
"""

from pianoeval.model.linear import LinearMember, quantile_normal
from pianoeval.model.symbolic import SymbolicRater

__all__ = ["LinearMember", "SymbolicRater", "quantile_normal"]
