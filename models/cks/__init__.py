"""CKS (Chen et al., ACM MM 2024): plain ``nn.Module`` parts that know nothing of the harness.

- :mod:`stickerbench.models.cks.keue`     knowledge-enhanced emotional utterance extractor (eq. 1-6)
- :mod:`stickerbench.models.cks.comet`    COMET-BART commonsense knowledge vectors g_i^k (§4.1.2)
- :mod:`stickerbench.models.cks.ive`      interventional visual feature extractor: VKD (eq. 7-8) and CIM (eq. 9-10)
- :mod:`stickerbench.models.cks.encoder`  the multimodal encoder with emotion and matching heads (eq. 12-13)
- :mod:`stickerbench.models.cks.losses`   triplet (eq. 11), contrastive, matching and the total loss (eq. 14)
- :mod:`stickerbench.models.cks.model`    the three parts assembled, with the switches the ablations flip
"""
