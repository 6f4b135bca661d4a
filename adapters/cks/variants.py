"""The ablations of the paper's Table 2, each removing exactly one part of ``cks``:

    ``cks-no-keue`` ĥ_i = Linear(RoBERTa r_i): no bi-LSTM, knowledge or speaker attention;
    ``cks-no-vkd``  v = Linear([v_p; ṽ]): v_p where v̄ would be;
    ``cks-no-cim``  ṽ = v_p (no style randomisation) and no triplet loss;
    ``cks-no-itc`` / ``cks-no-itm`` / ``cks-no-emo``: that loss off (and out of the score;
    without L_emo no emotion is predicted); ``cks-no-ocr``: no OCR tokens in the encoder.

Each is an explicit subclass whose ``name``, ``description`` and ``switches`` (read by
:meth:`CKSSelector.model_config`) are written in its class body, because ``python -m benchmark
list`` reads an entry point's ``description`` from the source, without importing torch.
"""

from __future__ import annotations

from stickerbench.adapters.cks.selector import CKSSelector


class CKSNoKEUE(CKSSelector):
    name = "cks-no-keue"
    description = "CKS without KEUE (ĥ = Linear(RoBERTa r_i))"
    switches = {"use_keue": False}


class CKSNoVKD(CKSSelector):
    name = "cks-no-vkd"
    description = "CKS without the visual knowledge deconfounder"
    switches = {"use_vkd": False}


class CKSNoCIM(CKSSelector):
    name = "cks-no-cim"
    description = "CKS without the content-invariant module and triplet loss"
    switches = {"use_cim": False}


class CKSNoITC(CKSSelector):
    name = "cks-no-itc"
    description = "CKS without the contrastive loss and score"
    switches = {"no_itc": True}


class CKSNoITM(CKSSelector):
    name = "cks-no-itm"
    description = "CKS without the matching loss and score"
    switches = {"no_itm": True}


class CKSNoEmo(CKSSelector):
    name = "cks-no-emo"
    description = "CKS without the emotion loss"
    switches = {"no_emo": True}
    supports_emotion = False
    classify_emotion = None  # no emotion head: the harness reports no task-3 numbers for it


class CKSNoOCR(CKSSelector):
    name = "cks-no-ocr"
    description = "CKS without OCR tokens"
    switches = {"use_ocr": False}
