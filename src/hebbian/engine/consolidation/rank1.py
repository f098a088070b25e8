"""rank1: the seed's fast weights, each evicted token keyed by its own layer input.

dW += eta * sum_i w_i * outer(target_i, h_i / |h_i|^2) with h_i the hidden state the K/V
projections saw for token i: a later input resembling h_i gets target_i added to its key or
value. The seed found this null for recall, because the question's hidden state does not
resemble the fact's (see association for the proposed fix); it stays as the baseline.
"""

from __future__ import annotations

from .fastweights import FastWeights


class Rank1(FastWeights):
    name = "rank1"

    def inputs(self, batch):
        return batch.hidden, None
