"""CKS parts checked against the paper's equations on concrete inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch
from torch import nn

from stickerbench.models.cks.dct import band_pass, dct2, idct2, style_randomise
from stickerbench.models.cks.encoder import MultimodalEncoder
from stickerbench.models.cks.ive import VisualKnowledgeDeconfounder
from stickerbench.models.cks.keue import KnowledgeEnhancedUtteranceExtractor, masked_softmax, speaker_masks
from stickerbench.models.cks.losses import LossWeights, contrastive_loss, matching_loss, triplet_loss


def test_dct_round_trip_matches_scipy():
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 6))
    ours = dct2(torch.tensor(x))
    np.testing.assert_allclose(ours.numpy(), scipy.fft.dctn(x, type=2, norm="ortho", axes=(-2, -1)), atol=1e-10)
    back = idct2(ours)
    np.testing.assert_allclose(
        back.numpy(), scipy.fft.idctn(ours.numpy(), type=2, norm="ortho", axes=(-2, -1)), atol=1e-10
    )
    np.testing.assert_allclose(back.numpy(), x, atol=1e-10)


def test_band_pass_follows_eq9():
    h = band_pass(8, 4, r_high=0.7, r_low=0.005, dtype=torch.float64)
    assert h.shape == (8, 4)
    assert h[0, 0] == 0  # DC is outside the band
    for a, b in ((0, 1), (1, 0), (1, 1), (3, 1)):  # (a, b): the coefficient's row and column index
        r2 = a * a + b * b
        assert h[a, b].item() == pytest.approx(math.exp(-r2 / 0.49) - math.exp(-r2 / 0.005**2))
    assert h[0, 1].item() == pytest.approx(math.exp(-1 / 0.49))
    assert (h >= 0).all() and (h <= 1).all()
    assert h[7, 3] < h[1, 1] < h[0, 1]  # H decays away from the lowest non-DC frequencies
    far = torch.ones(8, 4, dtype=torch.bool)
    far[:2, :2] = False
    assert (h[far] < 1e-3).all()  # the band is the extremely low frequencies only (§4.2.2)


def test_style_randomisation_without_noise_returns_the_image():
    img = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    out = style_randomise(img, band_pass(16, 16, dtype=torch.float64), noise=None)
    torch.testing.assert_close(out, img)


def test_style_randomisation_changes_only_the_band():
    img = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    mask = torch.zeros(16, 16, dtype=torch.float64)
    mask[2:5, 3:6] = 1.0  # a band of nine coefficients
    noise = torch.randn(1, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = style_randomise(img, mask, noise)
    before = scipy.fft.dctn(img.numpy(), type=2, norm="ortho", axes=(-2, -1))
    after = scipy.fft.dctn(out.numpy(), type=2, norm="ortho", axes=(-2, -1))
    changed = ~np.isclose(before, after, atol=1e-9)
    np.testing.assert_array_equal(changed, np.broadcast_to(mask.bool().numpy(), changed.shape))
    # inside the band: Gus(x) = x(1 + n), eq. 10
    np.testing.assert_allclose(after[..., 2:5, 3:6], (before * (1 + noise.numpy()))[..., 2:5, 3:6], atol=1e-9)


def test_paper_band_keeps_the_mean_colour():
    img = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    out = style_randomise(img, band_pass(32, 32, dtype=torch.float64), torch.randn(1, 3, 32, 32, dtype=torch.float64))
    torch.testing.assert_close(out.mean((-2, -1)), img.mean((-2, -1)))
    assert not torch.allclose(out, img)


def test_literal_vkd_shapes_normalisation_and_eq8():
    torch.manual_seed(0)
    w = torch.randn(6, 8)
    vkd = VisualKnowledgeDeconfounder(w, "literal")
    v = torch.randn(5, 8)
    weights = vkd.weights(v)
    assert weights.shape == (5, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(5))
    v_bar = vkd(v)
    assert v_bar.shape == (5, 8)
    torch.testing.assert_close(v_bar.sum(-1), torch.ones(5))
    assert (v_bar > 0).all()
    # by hand: softmax(FC((v W) W)) with attention weights softmax(v Wᵀ / √d)
    att = torch.exp(v @ w.T / math.sqrt(8))
    att = att / att.sum(-1, keepdim=True)
    expected = torch.softmax((att @ w) @ vkd.fc.weight.T + vkd.fc.bias, -1)
    torch.testing.assert_close(v_bar, expected)
    assert not any(p is vkd.confounders for p in vkd.parameters())  # W is a fixed dictionary


def test_keue_masks_on_a_two_speaker_dialogue():
    # u0 by A, u1 by B, u2 by A, u3 by B, then one padded turn; speaker 0 = A
    speakers = torch.tensor([[0, 1, 0, 1, 0]])
    turn_mask = torch.tensor([[1, 1, 1, 1, 0]])
    intra, inter = speaker_masks(speakers, turn_mask)
    expected_intra = torch.tensor(
        [
            [1, 0, 0, 0, 0],
            [0, 1, 0, 0, 0],
            [1, 0, 1, 0, 0],
            [0, 1, 0, 1, 0],
            [1, 0, 1, 0, 0],
        ],
        dtype=torch.bool,
    )
    expected_inter = torch.tensor(
        [
            [0, 0, 0, 0, 0],
            [1, 0, 0, 0, 0],
            [0, 1, 0, 0, 0],
            [1, 0, 1, 0, 0],
            [0, 1, 0, 1, 0],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(intra[0], expected_intra)
    assert torch.equal(inter[0], expected_inter)
    weights = masked_softmax(torch.randn(1, 5, 5), inter)
    assert torch.equal(weights[0, 0], torch.zeros(5))  # u0 has no earlier turn by B: no NaN
    torch.testing.assert_close(weights[0, 3].sum(), torch.tensor(1.0))
    assert weights[0, 3, 1] == 0 and weights[0, 3, 0] > 0 and weights[0, 3, 2] > 0


class _ConstantEncoder(torch.nn.Module):
    """A stand-in utterance encoder whose [CLS] state is the first token's embedding."""

    def __init__(self, dim: int):
        super().__init__()
        self.config = type("Config", (), {"hidden_size": dim})()
        self.embed = torch.nn.Embedding(50, dim)

    def forward(self, input_ids, attention_mask):
        return type("Out", (), {"last_hidden_state": self.embed(input_ids)})()


@pytest.mark.parametrize("value", ["f_q", "f_k"])
def test_keue_attention_follows_eq3_to_5(value):
    torch.manual_seed(0)
    keue = KnowledgeEnhancedUtteranceExtractor(_ConstantEncoder(6), knowledge_dim=5, hidden=4, out_dim=7, value=value)
    ids = torch.tensor([[[3, 0], [7, 0], [9, 0]]])
    turn_mask = torch.ones(1, 3, dtype=torch.long)
    speakers = torch.tensor([[0, 1, 0]])
    knowledge = torch.randn(1, 3, 6, 5)
    out = keue(ids, torch.ones_like(ids), turn_mask, speakers, knowledge)
    assert out.shape == (1, 3, 7)
    # eq. 2 by hand
    g_a, g_e = keue.gates(knowledge)
    torch.testing.assert_close(
        g_a, torch.sigmoid(knowledge[:, :, :3].sum(2) @ keue.gate_intra.weight.T + keue.gate_intra.bias)
    )
    # eq. 3-6 by hand for the last utterance (speaker A): intra over {u0, u2}, inter over {u1}
    h = keue.contextualise(keue.utterance_encoder.embed(ids[:, :, 0]), turn_mask)[0]
    q, k, fg = keue.f_q(h), keue.f_k(h), keue.f_g
    key_a = k + fg(g_a[0])
    key_e = k + fg(g_e[0])
    s_a = torch.softmax(torch.stack([q[2] @ key_a[0], q[2] @ key_a[2]]) / math.sqrt(8), 0)
    v = q if value == "f_q" else k  # eq. 4 prints F_q(h_j) as the value
    h_tilde = s_a[0] * v[0] + s_a[1] * v[2] + v[1]  # a single inter key gets weight 1
    g_tilde = s_a[0] * key_a[0] + s_a[1] * key_a[2] + key_e[1]
    torch.testing.assert_close(out[0, 2], keue.mlp(torch.cat([h_tilde, g_tilde])))
    # knowledge of a later utterance cannot reach an earlier one through attention
    changed = knowledge.clone()
    changed[0, 2] += 10
    h_first = keue(ids, torch.ones_like(ids), turn_mask, speakers, changed)
    torch.testing.assert_close(h_first[0, :2], out[0, :2])


def test_triplet_loss_by_hand():
    vp = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    vt = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    vn = torch.tensor([[0.0, 1.0], [0.0, -1.0]])
    # sample 1: Dis(vp, vt) = 1 − 1/√2, Dis(vp, vn) = 1 → max(0, 0.2 + 0.293 − 1) = 0
    # sample 2: Dis(vp, vt) = 0, Dis(vp, vn) = 2 → max(0, 0.2 − 2) = 0
    assert triplet_loss(vp, vt, vn).item() == pytest.approx(0.0)
    vn_hard = torch.tensor([[1.0, 0.1], [0.0, 1.0]])  # now both margins are violated
    d_pt = 1 - 1 / math.sqrt(2)
    d_pn = 1 - 1 / math.sqrt(1.01)
    expected = (max(0, 0.2 + d_pt - d_pn) + max(0, 0.2 + 0 - 0)) / 2
    assert triplet_loss(vp, vt, vn_hard, margin=0.2).item() == pytest.approx(expected, rel=1e-5)


def test_contrastive_loss_by_hand_with_a_shared_sticker():
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    visual = torch.tensor([[2.0, 0.0], [0.0, 3.0], [5.0, 5.0]])  # the third repeats sticker 7
    keys = torch.tensor([7, 4, 7])
    scale = torch.tensor(math.log(2.0))
    # unique stickers sorted: 4 → (0, 1), 7 → (1, 0) (first occurrence); logits = 2 · cos
    cos = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1 / math.sqrt(2), 1 / math.sqrt(2)]])
    logits = 2 * cos
    targets = [1, 0, 1]
    expected = -sum(torch.log_softmax(logits[i], 0)[t] for i, t in enumerate(targets)) / 3
    assert contrastive_loss(text, visual, keys, scale).item() == pytest.approx(expected.item(), rel=1e-5)


def test_matching_loss_and_eq14_by_hand():
    pos = torch.tensor([[0.0, 2.0]])
    neg = torch.tensor([[1.0, -1.0]])
    expected = (-math.log(math.exp(2) / (1 + math.exp(2))) - math.log(math.exp(1) / (math.exp(1) + math.exp(-1)))) / 2
    assert matching_loss(pos, neg).item() == pytest.approx(expected, rel=1e-5)
    parts = {"itm": torch.tensor(1.0), "itc": torch.tensor(2.0), "emo": torch.tensor(3.0), "triplet": torch.tensor(4.0)}
    assert LossWeights().total(parts).item() == pytest.approx(1 + 2 + 0.5 * 3 + 0.3 * 4)
    assert LossWeights(itc=0.0).total(parts).item() == pytest.approx(1 + 0.5 * 3 + 0.3 * 4)


def test_contrastive_gradient_flows_to_both_sides():
    text = torch.randn(4, 3, requires_grad=True)
    visual = torch.randn(4, 3, requires_grad=True)
    contrastive_loss(text, visual, torch.arange(4), torch.tensor(1.0)).backward()
    assert text.grad.abs().sum() > 0 and visual.grad.abs().sum() > 0


class _TokenEmbeddings(nn.Embedding):  # called as BERT's embedding layer is
    def forward(self, input_ids):
        return super().forward(input_ids)


@pytest.mark.parametrize("reference_mode", ["eval", "train"])
def test_head_only_encoder_equals_torch_transformer_encoder_at_head(reference_mode):
    """In eval the encoder computes its last layer at [HEAD] alone; the output there must be
    PyTorch's own nn.TransformerEncoder's over the whole sequence: its fused eval path, and its
    training path (dropout 0), which the encoder itself takes in training."""
    torch.manual_seed(0)
    enc = MultimodalEncoder(
        _TokenEmbeddings(50, 16), 16, 12, 20, width=32, layers=3, heads=4, num_emotions=5, dropout=0.0
    )
    b, n, lx, t, lo = 3, 4, 7, 2, 5
    ids, mask = torch.randint(1, 50, (b, lx)), torch.ones(b, lx, dtype=torch.long)
    mask[0, 4:] = 0
    turns = torch.tensor([[1, 1], [1, 0], [1, 1]])
    ocr_ids, ocr_mask = torch.randint(1, 50, (b, n, lo)), torch.ones(b, n, lo, dtype=torch.long)
    ocr_mask[1, 2, 1:] = 0
    args = (ids, mask, torch.randn(b, t, 12), turns, torch.randn(b, n, 20), ocr_ids, ocr_mask)
    with torch.no_grad():
        got = enc.eval()(*args)
        seq, padding = enc.sequence(*args)
        enc.train(reference_mode == "train")
        want = enc.encoder(seq, src_key_padding_mask=padding)[:, 0].reshape(b, n, -1)
        trained_path = enc(*args)
    assert got.shape == (b, n, 32) and padding.any()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    if reference_mode == "train":
        assert torch.equal(trained_path, want)  # training runs the library's layers themselves
