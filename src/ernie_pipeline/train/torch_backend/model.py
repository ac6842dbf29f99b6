"""transformers' ``ErnieForPreTraining`` scored as upstream's ERNIE is: the MLM head on the masked positions only
(gathered first: no logits for every position of the sequence), the sentence-order head on the pooled [CLS], and
``ErniePretrainingCriterion``'s losses. Attention through PyTorch's SDPA (FlashAttention / cuDNN kernels on GPUs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import ErnieForPreTraining

# paddlenlp's collate pads the masked positions of a micro-batch to a multiple of this (label -1), and the MLM loss
# is their mean: the padded slots count in the denominator (upstream's slight underestimate, kept)
MASKED_PADDING = 8


class ErnieMaskedPretraining(ErnieForPreTraining):
    """The pretraining model: (MLM scores of the masked positions ``[M, vocab]``, SOP scores ``[B, 2]``)."""

    def forward(self, input_ids, token_type_ids, attention_mask, masked_positions, sop: bool = True):
        encoded = self.ernie(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        sequence, pooled = encoded[0], encoded[1]
        hidden = sequence.reshape(-1, sequence.shape[-1]).index_select(0, masked_positions)
        return self.cls.predictions(hidden), self.cls.seq_relationship(pooled) if sop else None


def losses(scores, sop_scores, labels, sop_labels):
    """(loss, MLM loss, SOP loss or None) in float32: cross-entropy over the masked positions (label -1: padding)
    divided by the collate's padded count, as paddlenlp's mean over them; the SOP mean over the batch."""
    slots = torch.div((labels != -1).sum() + MASKED_PADDING - 1, MASKED_PADDING, rounding_mode="floor") * MASKED_PADDING
    lm = F.cross_entropy(scores.float(), labels, ignore_index=-1, reduction="sum") / slots
    if sop_scores is None:
        return lm, lm, None
    sop = F.cross_entropy(sop_scores.float(), sop_labels)
    return lm + sop, lm, sop
