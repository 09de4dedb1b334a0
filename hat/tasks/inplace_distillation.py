"""In-place distillation for sandwich updates (BigNAS, OFA): the sampled SubTransformers learn from the
largest SubTransformer's output distribution, computed in the same update, mixed with the labels."""
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F


def distillation_loss(student_lprobs: torch.Tensor, teacher_lprobs: torch.Tensor, target: torch.Tensor,
                      padding_idx: int) -> torch.Tensor:
    """KL(teacher || student) in nats, summed over the non-pad target tokens (a sum, like fairseq's losses,
    which the trainer divides by the sample size). Log-probabilities ``[B, T, V]``, target ``[B, T]``."""
    kl = F.kl_div(student_lprobs.float(), teacher_lprobs.float(), reduction="none", log_target=True).sum(-1)
    return kl.masked_fill(target.eq(padding_idx), 0.0).sum()


class InplaceDistillation:
    """The criterion of the members of one sandwich update (a callable like a fairseq criterion).

    The first call is the teacher's (the largest SubTransformer): its loss is the wrapped criterion's
    (label smoothing kept), and its output distribution is kept, detached. Every later call is a
    student's: ``(1 - weight) * criterion loss + weight * KL(teacher || student)``, with the KL added to
    the logging output as ``distill_loss`` (the output's ``loss`` stays the criterion's, comparable with
    uniform sampling's).
    """

    def __init__(self, criterion: Any, super_model: torch.nn.Module, weight: float):
        self.criterion = criterion
        self.super_model = super_model
        self.weight = weight
        self.teacher: Optional[torch.Tensor] = None

    def __call__(self, model: torch.nn.Module, sample: Dict[str, Any]) -> Tuple[torch.Tensor, Any, Dict[str, Any]]:
        outputs = []
        # fairseq criteria run the model themselves; the hook keeps the output, so that the label loss stays
        # whichever criterion is configured, computed by it.
        handle = self.super_model.register_forward_hook(lambda _module, _inputs, output: outputs.append(output))
        try:
            loss, sample_size, logging_output = self.criterion(model, sample)
        finally:
            handle.remove()
        lprobs = self.super_model.get_normalized_probs(outputs[-1], log_probs=True)
        if self.teacher is None:
            self.teacher = lprobs.detach()
            return loss, sample_size, logging_output
        distill = distillation_loss(lprobs, self.teacher, sample["target"], self.criterion.padding_idx)
        mixed = (1.0 - self.weight) * loss + self.weight * distill
        return mixed, sample_size, {**logging_output, "distill_loss": distill.data}
