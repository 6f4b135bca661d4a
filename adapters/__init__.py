"""One file per selector; each turns harness ``Query`` objects into tensors for a model.

``BUILTIN_SELECTORS`` is read lazily by :mod:`benchmark.registry`: name → (``"module:factory"``,
one-line summary); a factory is anything called with a ``SelectorContext`` (a function or a class). Importing this package imports no model code.
"""

BUILTIN_SELECTORS: dict[str, tuple[str, str]] = {
    "random": ("adapters.random_selector:build", "uniform random scores, seeded per sample (chance)"),
    "popularity": ("adapters.popularity:build", "a sticker's frequency as the gold in the training split"),
    "clip": ("adapters.clip:build", "CLIP dual encoder fine-tuned contrastively on the last utterance"),
    "vilt": ("adapters.vilt:build", "ViLT image-text matching cross-encoder"),
    "blip2": ("adapters.blip2:build", "BLIP-2 Q-Former image-text matching head (only the ITM head is tuned)"),
    "mod-gpt": ("adapters.mod_gpt:build", "GPT-2 with sticker embeddings (DSTC10 Track 1 MOD baseline)"),
    "mmbert": ("adapters.mmbert:build", "multitask multimodal BERT (context + OCR slots + CLIP image token)"),
    "fromage": ("adapters.fromage:build", "frozen LM + frozen CLIP with [RET]-token retrieval, zero-shot"),
    "cks": ("adapters.cks:build", "CKS: causal knowledge-enhanced sticker selector (ACM MM 2024)"),
    "cks-no-keue": ("adapters.cks:CKSNoKEUE", "CKS ablation: without the knowledge-enhanced utterance extractor"),
    "cks-no-vkd": ("adapters.cks:CKSNoVKD", "CKS ablation: without visual knowledge deconfounding"),
    "cks-no-cim": ("adapters.cks:CKSNoCIM", "CKS ablation: without the content-invariant module"),
    "cks-no-itc": ("adapters.cks:CKSNoITC", "CKS ablation: without the contrastive loss"),
    "cks-no-itm": ("adapters.cks:CKSNoITM", "CKS ablation: without the matching loss"),
    "cks-no-emo": ("adapters.cks:CKSNoEmo", "CKS ablation: without the emotion loss"),
    "cks-no-ocr": ("adapters.cks:CKSNoOCR", "CKS ablation: without OCR tokens"),
}
