"""Near-duplicates collapsed: the shots of a burst and the edits of one photo shown as one (notebook 06).

Phones take bursts, and people keep edited copies: a search for your dog then returns eight versions of one
moment, and a comic would get eight copies of one shot as references. Such photos have almost the same vector.
`group_near_duplicates` groups vectors whose cosine similarity to a group's first member (the best hit) is at
least DUPLICATE_THRESHOLD; `collapse_hits` keeps the best hit of each group, with the others attached.

The threshold, measured with the offline model (EfficientNet-Lite0; other models need their own): a burst shot
(the frame shifted by 1-2%, a little brighter) scores at least 0.89 with its original (median 0.97), an edited
copy (cropped by 10% on each side, more colour and contrast) 0.89 in the median and above 0.80 for 99 of the
100 sample photos tried (the worst 0.67); two different photos of
one class score 0.42 in the median, and of the 5,500 such pairs among the 1,100 sample photos 18 (0.3%) reach
0.78, none 0.88. At 0.78, all the bursts and 99% of the edits fold, and 0.3% of different same-class photos.
In the demo library the burst scores 0.96-0.97, the edited copy 0.79, different photos of the dog at most 0.63.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from helpers.photos.hits import Hit

DUPLICATE_THRESHOLD = 0.78  # cosine similarity from which two photos count as one moment (see above)


@dataclass(frozen=True)
class HitGroup:
    """One moment: its best hit, and the near-duplicates it stands for (bursts, edits), best first."""

    best: Hit
    duplicates: tuple[Hit, ...] = ()

    def __len__(self) -> int:
        return 1 + len(self.duplicates)


def group_near_duplicates(embeddings: np.ndarray, threshold: float = DUPLICATE_THRESHOLD) -> list[list[int]]:
    """Groups of row indices, in order: each row joins the first earlier group whose first row is that similar.

    Rows are unit vectors, in ranking order (best first), so each group starts with its best member. A row is
    compared with a group's first row only, so a chain of small changes does not merge different moments.
    """
    vectors = np.asarray(embeddings, dtype=np.float32)
    groups: list[list[int]] = []
    for i in range(len(vectors)):
        leaders = np.array([group[0] for group in groups], dtype=int)
        similar = np.flatnonzero(vectors[leaders] @ vectors[i] >= threshold) if len(leaders) else []
        if len(similar):
            groups[similar[0]].append(i)
        else:
            groups.append([i])
    return groups


def collapse_hits(hits: Sequence[Hit], embeddings: np.ndarray,
                  threshold: float = DUPLICATE_THRESHOLD) -> list[HitGroup]:
    """Search hits with their near-duplicates folded into the best of each group (notebook 06).

    `embeddings` holds the vector of each hit, in the same order (`store.get_vectors` of the hits' paths).
    """
    if len(hits) != len(embeddings):
        raise ValueError(f"Got {len(embeddings)} vectors for {len(hits)} hits: give one vector per hit.")
    return [HitGroup(hits[group[0]], tuple(hits[i] for i in group[1:]))
            for group in group_near_duplicates(embeddings, threshold)]


def distinct_hits(hits: Sequence[Hit], embeddings: np.ndarray, threshold: float = DUPLICATE_THRESHOLD) -> list[Hit]:
    """The best hit of each moment, best first: what a gallery or a comic's references should get (nb 06)."""
    return [group.best for group in collapse_hits(hits, embeddings, threshold)]
