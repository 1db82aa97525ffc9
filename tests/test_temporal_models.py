"""Tests for affectkit.temporal.models: shapes, masking, selection, learnability, C3D."""

from __future__ import annotations

import pytest
import torch

from affectkit.temporal import models as tm
from affectkit.temporal.models import (
    C3D,
    TEMPORAL_MODELS,
    FrameSelection,
    MeanPooling,
    RecurrentHead,
    TransformerLSTM,
    create_temporal_model,
)

D, K = 6, 3
LENGTHS = [7, 3, 1, 5]  # varying lengths, padded to T = 7


def _batch(lengths=LENGTHS, dim=D, seed=0):
    gen = torch.Generator().manual_seed(seed)
    steps = max(lengths)
    x = torch.randn(len(lengths), steps, dim, generator=gen)
    mask = torch.arange(steps).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return x, mask


SEQUENCE_MODELS = {
    "mean": lambda: MeanPooling(D, K),
    "selection_mean": lambda: FrameSelection(D, K, n_chunks=3, pooling="mean"),
    "selection_learned": lambda: FrameSelection(D, K, n_chunks=3, pooling="learned"),
    "lstm": lambda: RecurrentHead(D, K, hidden=8, cell="lstm"),
    "gru": lambda: RecurrentHead(D, K, hidden=8, cell="gru"),
    "bilstm": lambda: RecurrentHead(D, K, hidden=8, cell="lstm", bidirectional=True),
    "transformer_lstm": lambda: TransformerLSTM(D, K, d_model=16, heads=2, layers=2, lstm_hidden=8),
    "transformer_lstm_learned": lambda: TransformerLSTM(
        D, K, d_model=16, heads=2, layers=1, lstm_hidden=8, positional="learned", max_len=32
    ),
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("name", list(SEQUENCE_MODELS))
def test_shapes_with_varying_masks(name):
    model = SEQUENCE_MODELS[name]().eval()
    x, mask = _batch()
    out = model(x, mask)
    assert out["clip"].shape == (len(LENGTHS), K)
    assert out["clip"].dtype == torch.float32
    assert out["steps"].shape == (len(LENGTHS), max(LENGTHS), K)
    assert torch.isfinite(out["clip"]).all()
    assert (out["steps"][~mask] == 0).all()  # padded steps are zero
    # mask=None means every frame is real
    full = model(x)
    assert full["clip"].shape == (len(LENGTHS), K)
    # backpropagates
    model.train()
    model(x, mask)["clip"].sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", list(SEQUENCE_MODELS))
def test_padding_with_garbage_does_not_change_outputs(name):
    model = SEQUENCE_MODELS[name]().eval()
    x, mask = _batch()
    with torch.no_grad():
        for i, length in enumerate(LENGTHS):
            alone = model(x[i : i + 1, :length])  # unpadded, no mask
            garbage = x[i : i + 1].clone()
            garbage[:, length:] = 1e3 * torch.randn_like(garbage[:, length:])
            padded = torch.cat([garbage, torch.zeros(1, 4, D)], dim=1)  # extra padding too
            padded_mask = torch.zeros(1, padded.shape[1], dtype=torch.bool)
            padded_mask[:, :length] = True
            out = model(padded, padded_mask)
            torch.testing.assert_close(out["clip"], alone["clip"], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(out["steps"][:, :length], alone["steps"], atol=1e-5, rtol=1e-5)
            # the same row inside the full batch gives the same answer
            batched = model(x, mask)
            torch.testing.assert_close(batched["clip"][i : i + 1], alone["clip"], atol=1e-5, rtol=1e-5)


def test_nan_in_padding_does_not_leak():
    x, mask = _batch()
    x[~mask] = float("nan")
    for name in SEQUENCE_MODELS:
        out = SEQUENCE_MODELS[name]().eval()(x, mask)
        assert torch.isfinite(out["clip"]).all(), name
        assert torch.isfinite(out["steps"]).all(), name


def test_mean_pooling_is_masked_mean():
    model = MeanPooling(D, K)
    x, mask = _batch()
    out = model(x, mask)
    for i, length in enumerate(LENGTHS):
        expected = model.head(x[i, :length].mean(dim=0))
        torch.testing.assert_close(out["clip"][i], expected)
    torch.testing.assert_close(out["clip"], tm.masked_mean(out["steps"], mask))


def _hand_scored_selection(n_chunks, pooling="mean"):
    """A FrameSelection whose score is the first feature of the frame."""
    model = FrameSelection(3, 2, n_chunks=n_chunks, pooling=pooling)
    with torch.no_grad():
        model.scorer.weight.copy_(torch.tensor([[1.0, 0.0, 0.0]]))
        model.scorer.bias.zero_()
    return model


def test_frame_selection_picks_highest_scoring_frame_per_chunk():
    model = _hand_scored_selection(n_chunks=3)
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.2, 0.5, 0.8, 0.7, 0.4, 0.6]])
    x = torch.stack([scores, torch.randn(1, 9), torch.randn(1, 9)], dim=-1)
    indices, valid = model.select(x)
    # chunks {0,1,2}, {3,4,5}, {6,7,8}
    assert indices.tolist() == [[1, 5, 6]]
    assert valid.tolist() == [[True, True, True]]
    out = model(x)
    torch.testing.assert_close(out["clip"], model.head(x[0, [1, 5, 6]].mean(dim=0, keepdim=True)))


def test_frame_selection_chunks_follow_real_frames_and_skip_empty_chunks():
    model = _hand_scored_selection(n_chunks=3)
    # sequence 0: 6 real frames + padding with huge scores; sequence 1: 2 real frames (< n_chunks)
    first = torch.tensor([0.5, 0.1, 0.2, 0.9, 0.3, 0.4, 99.0, 99.0])
    second = torch.tensor([0.7, 0.2, 99.0, 99.0, 99.0, 99.0, 99.0, 99.0])
    scores = torch.stack([first, second])
    x = torch.stack([scores, torch.zeros(2, 8), torch.ones(2, 8)], dim=-1)
    mask = torch.tensor([[True] * 6 + [False] * 2, [True] * 2 + [False] * 6])
    indices, valid = model.select(x, mask)
    assert indices[0].tolist() == [0, 3, 5]  # chunks {0,1}, {2,3}, {4,5}
    assert valid[0].tolist() == [True, True, True]
    # two real frames in three chunks: rank r -> chunk floor(3r/2): frame 0 -> 0, frame 1 -> 1
    assert indices[1].tolist() == [0, 1, -1]
    assert valid[1].tolist() == [True, True, False]
    out = model(x, mask)
    torch.testing.assert_close(out["clip"][1], model.head(x[1, :2].mean(dim=0)))


def test_frame_selection_learned_pooling_weights_follow_scores():
    model = _hand_scored_selection(n_chunks=2, pooling="learned")
    x = torch.tensor([[[0.0, 1.0, 0.0], [2.0, 0.0, 1.0], [1.0, 5.0, 5.0], [0.5, 0.0, 0.0]]])
    indices, _ = model.select(x)
    assert indices.tolist() == [[1, 2]]
    weights = torch.softmax(torch.tensor([2.0, 1.0]), dim=0)
    pooled = weights[0] * x[0, 1] + weights[1] * x[0, 2]
    torch.testing.assert_close(model(x)["clip"][0], model.head(pooled))
    model(x)["clip"].sum().backward()
    assert model.scorer.weight.grad.abs().sum() > 0  # the scorer learns through the weights


def test_recurrent_clip_is_last_valid_step():
    model = RecurrentHead(D, K, hidden=8, cell="gru").eval()
    x, mask = _batch()
    out = model(x, mask)
    last = torch.stack([out["steps"][i, length - 1] for i, length in enumerate(LENGTHS)])
    torch.testing.assert_close(out["clip"], last)


def test_recurrent_needs_right_padding():
    model = RecurrentHead(D, K, hidden=8)
    x, _ = _batch()
    left_padded = torch.tensor([[False, True, True, True, True, True, True]] * 4)
    with pytest.raises(ValueError, match="right-padded"):
        model(x, left_padded)


def test_transformer_lstm_steps_and_clip_is_masked_mean_of_steps():
    model = TransformerLSTM(D, K, d_model=16, heads=2, layers=2, lstm_hidden=8).eval()
    x, mask = _batch()
    out = model(x, mask)
    assert out["steps"].shape == (len(LENGTHS), max(LENGTHS), K)
    for i, length in enumerate(LENGTHS):
        torch.testing.assert_close(out["clip"][i], out["steps"][i, :length].mean(dim=0))


def test_transformer_lstm_uses_order():
    model = TransformerLSTM(D, K, d_model=16, heads=2, layers=1, lstm_hidden=8).eval()
    x, _ = _batch([5])
    reversed_x = x.flip(1)
    assert not torch.allclose(model(x)["clip"], model(reversed_x)["clip"])


def test_transformer_lstm_learned_positions_limit():
    model = TransformerLSTM(D, K, d_model=16, heads=2, layers=1, lstm_hidden=8, positional="learned", max_len=4)
    with pytest.raises(ValueError, match="max_len"):
        model(torch.randn(1, 5, D))


def _order_task(n, steps=6, seed=0):
    """Sequences with one A=(1,0) frame, one B=(0,1) frame and zero fillers; label: A before B.

    Both classes have exactly the same bag of frames, so the (masked) mean is
    identical in distribution; only the order tells them apart.
    """
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, steps + 1, (n,), generator=gen)
    x = torch.zeros(n, steps, 2)
    y = torch.zeros(n, dtype=torch.long)
    for i in range(n):
        a, b = torch.randperm(int(lengths[i]), generator=gen)[:2].tolist()
        x[i, a, 0] = 1.0
        x[i, b, 1] = 1.0
        y[i] = int(a < b)
    x = x + 0.05 * torch.randn(x.shape, generator=gen)
    mask = torch.arange(steps).unsqueeze(0) < lengths.unsqueeze(1)
    return x, mask, y


def _train_and_score(model, train, test, steps=250, batch=64):
    x, mask, y = train
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(y), (batch,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(x[idx], mask[idx])["clip"], y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        tx, tmask, ty = test
        return (model(tx, tmask)["clip"].argmax(dim=1) == ty).float().mean().item()


def test_order_rule_learnable_by_lstm_not_by_mean_pooling(single_thread):
    torch.manual_seed(0)
    train, test = _order_task(1024, seed=0), _order_task(512, seed=1)
    lstm_acc = _train_and_score(RecurrentHead(2, 2, hidden=16, cell="lstm"), train, test)
    mean_acc = _train_and_score(MeanPooling(2, 2), train, test)
    assert lstm_acc >= 0.9, lstm_acc
    assert mean_acc <= 0.65, mean_acc


def test_c3d_shapes_and_backprop():
    model = C3D(1, num_outputs=K, width=8)
    x = torch.randn(2, 1, 16, 32, 32, requires_grad=True)
    out = model(x)
    assert set(out) == {"clip"}
    assert out["clip"].shape == (2, K)
    out["clip"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert model.features[0][0].weight.grad.abs().sum() > 0
    model.eval()
    assert model(x.detach())["clip"].shape == (2, K)


def test_c3d_rejects_bad_input():
    model = C3D(3, num_outputs=K, width=4)
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(1, 1, 8, 16, 16))
    with pytest.raises(ValueError, match="T >= 4"):
        model(torch.randn(1, 3, 2, 16, 16))
    with pytest.raises(ValueError, match="B, C, T, H, W"):
        model(torch.randn(1, 8, 16, 16))
    with pytest.raises(ValueError, match="mask"):
        model(torch.randn(1, 3, 8, 16, 16), torch.ones(1, 8, dtype=torch.bool))


@pytest.mark.parametrize(
    "bad",
    [
        lambda x, m: (x[0], None),  # 2-D
        lambda x, m: (x[..., :-1], None),  # wrong D
        lambda x, m: (x.long(), None),  # not float
        lambda x, m: (x, m.float()),  # mask not bool
        lambda x, m: (x, m[:, :-1]),  # mask wrong shape
        lambda x, m: (x, torch.zeros_like(m)),  # no real frame
    ],
)
@pytest.mark.parametrize("name", ["mean", "selection_mean", "lstm", "transformer_lstm"])
def test_sequence_input_errors(name, bad):
    model = SEQUENCE_MODELS[name]()
    x, mask = _batch()
    with pytest.raises(ValueError):
        model(*bad(x, mask))


@pytest.mark.parametrize(
    "build",
    [
        lambda: MeanPooling(0, K),
        lambda: FrameSelection(D, K, n_chunks=0),
        lambda: FrameSelection(D, K, n_chunks=2, pooling="max"),
        lambda: RecurrentHead(D, K, cell="rnn"),
        lambda: TransformerLSTM(D, K, d_model=10, heads=4),
        lambda: TransformerLSTM(D, K, positional="rotary"),
        lambda: C3D(1, num_outputs=0),
    ],
)
def test_constructor_errors(build):
    with pytest.raises(ValueError):
        build()


def test_factory_builds_every_model():
    assert TEMPORAL_MODELS == ("mean", "selection", "lstm", "gru", "transformer_lstm", "c3d")
    kwargs = {
        "mean": dict(input_dim=D, num_outputs=K),
        "selection": dict(input_dim=D, num_outputs=K, n_chunks=2, pooling="learned"),
        "lstm": dict(input_dim=D, num_outputs=K, hidden=8),
        "gru": dict(input_dim=D, num_outputs=K, hidden=8),
        "transformer_lstm": dict(input_dim=D, num_outputs=K, d_model=16, heads=2, layers=1, lstm_hidden=8),
        "c3d": dict(in_channels=1, num_outputs=K, width=4),
    }
    expected = {
        "mean": MeanPooling,
        "selection": FrameSelection,
        "lstm": RecurrentHead,
        "gru": RecurrentHead,
        "transformer_lstm": TransformerLSTM,
        "c3d": C3D,
    }
    for name in TEMPORAL_MODELS:
        model = create_temporal_model(name, **kwargs[name])
        assert isinstance(model, expected[name])
    assert create_temporal_model("gru", input_dim=D, num_outputs=K).cell == "gru"
    assert isinstance(create_temporal_model("lstm", input_dim=D, num_outputs=K).rnn, torch.nn.LSTM)


def test_factory_errors():
    with pytest.raises(ValueError, match="mean, selection, lstm, gru, transformer_lstm, c3d"):
        create_temporal_model("tcn", input_dim=D, num_outputs=K)
    with pytest.raises(ValueError, match="cell"):
        create_temporal_model("lstm", input_dim=D, num_outputs=K, cell="gru")
