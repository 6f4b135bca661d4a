"""The description-pretrained tiny CLIP that MOD-GPT, MMBERT and FROMAGe read features from."""

import math

import pytest
import torch

from benchmark.types import Sticker
from stickerbench.adapters.tiny_clip import sticker_captions, sticker_description
from stickerbench.models.contrastive import contrastive_loss, multi_positive_contrastive_loss


def test_multi_positive_loss_by_hand():
    text = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    image = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    positive = torch.tensor([[True, True], [False, True]])  # text 0 fits both images, text 1 only image 1
    scale = torch.tensor(math.log(2.0))
    cos = torch.tensor([[1.0, 1 / math.sqrt(2)], [0.0, 1 / math.sqrt(2)]])
    logits = 2 * cos
    t2i = (
        -(
            0.5 * torch.log_softmax(logits[0], 0)[0]
            + 0.5 * torch.log_softmax(logits[0], 0)[1]
            + torch.log_softmax(logits[1], 0)[1]
        )
        / 2
    )
    # image 0 fits only text 0; image 1 fits both texts
    columns = logits.t()
    i2t = (
        -(
            torch.log_softmax(columns[0], 0)[0]
            + 0.5 * torch.log_softmax(columns[1], 0)[0]
            + 0.5 * torch.log_softmax(columns[1], 0)[1]
        )
        / 2
    )
    got = multi_positive_contrastive_loss(text, image, positive, scale)
    assert got.item() == pytest.approx(((t2i + i2t) / 2).item(), rel=1e-5)


def test_sticker_id_loss_is_the_multi_positive_loss_with_equal_ids():
    torch.manual_seed(0)
    text, image = torch.randn(4, 3), torch.randn(4, 3)
    ids = torch.tensor([5, 1, 5, 2])
    scale = torch.tensor(1.0)
    same = ids[:, None] == ids[None, :]
    assert contrastive_loss(text, image, ids, scale).item() == pytest.approx(
        multi_positive_contrastive_loss(text, image, same, scale).item(), rel=1e-6
    )


def test_captions_name_the_emotion_on_its_own():
    sticker = Sticker(sticker_id="7", path="7.png", meta={"emotion": "joy", "character": "cat", "caption": "YAY!"})
    captions = sticker_captions(sticker)
    assert captions[0] == sticker_description(sticker) == "joy cat YAY!"
    assert {"joy", "cat", "joy cat"} <= set(captions)
    assert len(captions) == len(set(captions))


def test_a_sticker_without_metadata_is_described_by_its_ocr_text():
    sticker = Sticker(sticker_id="3", path="3.png", meta=None, ocr_text="so tired")
    assert sticker_captions(sticker) == ["so tired"]
