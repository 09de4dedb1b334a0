"""Evaluation of SubTransformers: BLEU / SacreBLEU as the paper reports them."""
