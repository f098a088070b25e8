"""association (the seed's Option 1): fast weights keyed by the token's strongest attender.

"Linked" is computed from what the cache tracks: at every step the engine's explicit softmax
gives each query's weights over the cached tokens, summed over the query heads of each KV head;
for every cached token the cache keeps the largest such weight any later query gave it (a token
attending to itself does not count) and that query's position, per KV head. When the token is
evicted, the layer input of that strongest attender (still in the cache: attenders come after
it, and the window evicts oldest first) keys the update:

    dW += eta * sum_i w_i * outer(target_i, h_link(i) / |h_link(i)|^2).

A later input that resembles the attender's (a context that looked for this token) then gets
the token's key or value added. A token with no attender left in the cache (a heavy hitter
outliving its attenders, or one never attended but by itself) adds nothing. The seed's text
links the other way (the positions the evicted token attended to); this follows the project's
design, which keys by the tokens that attended to it, since those are what the cache scores.
"""

from __future__ import annotations

from .base import register_strategy
from .fastweights import FastWeights


@register_strategy("association")
class Association(FastWeights):
    summary = "fast weights on the K/V projections, keyed by the token's strongest attender"
    tracks_links = True

    @classmethod
    def check(cls, config):
        if not config.track_importance:
            return "mode 'association' needs track_importance=True: links are read from the attention weights"
        return None

    def inputs(self, batch):
        return batch.linked, batch.linked_found
