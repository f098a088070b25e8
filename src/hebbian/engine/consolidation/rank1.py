"""rank1: the seed's fast weights, each evicted token keyed by its own layer input.

dW += eta * sum_i w_i * outer(target_i, h_i / |h_i|^2) with h_i the hidden state the K/V
projections saw for token i: a later input resembling h_i gets target_i added to its key or
value. The seed found this null for recall, because the question's hidden state does not
resemble the fact's (see association for the proposed fix); it stays as the baseline.
"""

from __future__ import annotations

from .base import register_strategy
from .fastweights import FastWeights


@register_strategy("rank1")
class Rank1(FastWeights):
    summary = "fast weights on the K/V projections, keyed by the token's own input"

    def inputs(self, batch):
        return batch.hidden, None
