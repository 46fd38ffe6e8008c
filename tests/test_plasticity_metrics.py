"""Plasticity metrics against known answers."""

import math

import pytest
import torch
from torch import nn

from syre_rl.plasticity import metrics as M


def _matrix_with_singular_values(values, rows=200, cols=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(rows, len(values), generator=gen))
    v, _ = torch.linalg.qr(torch.randn(cols, len(values), generator=gen))
    return u @ torch.diag(torch.tensor(values, dtype=torch.float32)) @ v.T


@pytest.mark.parametrize("rank", [1, 3, 7, 20])
def test_rank_r_matrix_has_srank_effective_and_approximate_rank_r(rank):
    features = _matrix_with_singular_values([2.0] * rank)
    ranks = M.feature_ranks(features)
    assert ranks["srank"].item() == rank
    assert ranks["effective_rank"].item() == pytest.approx(rank, rel=1e-4)
    assert ranks["approx_rank"].item() == rank
    assert M.srank(features).item() == rank


def test_ranks_of_unequal_singular_values():
    features = _matrix_with_singular_values([3.0, 1.0])
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert M.effective_rank(features).item() == pytest.approx(math.exp(entropy), rel=1e-4)
    assert M.srank(features, delta=0.01).item() == 2
    assert M.srank(features, delta=0.3).item() == 1  # 3 / 4 >= 0.7
    assert M.approximate_rank(features).item() == 2  # 9 / 10 < 0.99
    assert M.approximate_rank(features, energy=0.9).item() == 1


def test_ranks_of_all_zero_features_are_zero():
    ranks = M.feature_ranks(torch.zeros(10, 4))
    assert all(value.item() == 0 for value in ranks.values())


@pytest.mark.parametrize("zeroed", [0, 1, 5, 16])
def test_dormant_ratio_counts_units_forced_to_zero(zeroed):
    gen = torch.Generator().manual_seed(1)
    h = torch.rand(128, 16, generator=gen) + 0.5
    h[:, :zeroed] = 0
    for tau in (0.0, 0.025, 0.1):
        assert M.dormant_ratio(h, tau).item() == pytest.approx(zeroed / 16)


def test_dormant_ratio_threshold_and_conv_channels():
    h = torch.ones(8, 4)
    h[:, 0] = 0.02  # score 0.02 / ((3 + 0.02) / 4) = 0.0265
    assert M.dormant_ratio(h, 0.0).item() == 0
    assert M.dormant_ratio(h, 0.025).item() == 0
    assert M.dormant_ratio(h, 0.03).item() == pytest.approx(0.25)
    conv = torch.rand(4, 6, 5, 5) + 0.1
    conv[:, 2] = 0
    assert M.dormant_ratio(conv, 0.0).item() == pytest.approx(1 / 6)
    assert M.unit_activations(conv).shape == (4, 6)


def test_unit_scores_are_the_redo_score_the_dormant_ratio_counts():
    h = torch.tensor([[1.0, 0.0, 3.0, 0.08], [-1.0, 0.0, 1.0, 0.0]])  # E|h| = 1, 0, 2, 0.04; layer mean 0.76
    scores = M.unit_scores(h)
    torch.testing.assert_close(scores, torch.tensor([1.0, 0.0, 2.0, 0.04]) / 0.76)
    assert torch.equal(M.unit_scores(torch.zeros(5, 3)), torch.zeros(3))
    assert M.dormant_ratio(h, 0.0).item() == 0.25 and M.dormant_ratio(h, 0.06).item() == 0.5
    conv = torch.zeros(2, 2, 3, 3)
    conv[:, 1, 0, 0] = 9.0  # channel 1: E|h| over batch and positions = 1
    torch.testing.assert_close(M.unit_activity(conv), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="batch, units"):
        M.unit_activity(torch.ones(3))


def test_active_fraction_by_activation_kind():
    relu = torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    assert M.active_fraction(relu, "relu").item() == pytest.approx(4 / 8)
    tanh = torch.tensor([[0.995, 0.5], [-0.999, 0.0]])
    assert M.active_fraction(tanh, "tanh").item() == pytest.approx(2 / 4)
    sigmoid = torch.tensor([[0.005, 0.5], [0.995, 0.2]])
    assert M.active_fraction(sigmoid, "sigmoid").item() == pytest.approx(2 / 4)


def test_dead_units_are_active_on_at_most_one_percent_of_the_window():
    h = torch.ones(100, 4)
    h[:, 0] = 0  # never active
    h[:, 1] = 0
    h[0, 1] = 1.0  # active on 1% -> dead
    h[:, 2] = 0
    h[:2, 2] = 1.0  # active on 2% -> alive
    assert M.dead_fraction(h, "relu").item() == pytest.approx(2 / 4)
    saturated = torch.full((100, 2), 0.5)
    saturated[:, 0] = 1.0  # a tanh unit saturated on every input
    assert M.dead_fraction(saturated, "tanh").item() == pytest.approx(1 / 2)


def test_feature_norm_and_variance():
    h = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert M.feature_norm(h).item() == pytest.approx(2.5)
    assert M.feature_variance(h).item() == pytest.approx((2.25 + 4.0) / 2)


def test_weight_magnitudes_of_hand_set_tensors():
    weight = torch.tensor([[1.0, -2.0], [3.0, -4.0]])
    bias = torch.tensor([0.0, 2.0])
    magnitude = M.weight_magnitude([weight, bias])
    assert magnitude["mean_abs"].item() == pytest.approx(12 / 6)
    assert magnitude["rms"].item() == pytest.approx(math.sqrt(34 / 6))
    assert M.distance_to_init([weight, bias], [weight + 2, bias]).item() == pytest.approx(math.sqrt(16 / 6))
    with pytest.raises(ValueError, match="elements"):
        M.distance_to_init([weight], [bias])


def test_grad_norm_matches_clip_grad_norm():
    net = nn.Linear(3, 2)
    net(torch.randn(5, 3)).square().sum().backward()
    expected = torch.nn.utils.clip_grad_norm_(net.parameters(), 1e9)
    assert M.grad_norm(net.parameters()).item() == pytest.approx(expected.item(), rel=1e-5)


def test_entropy_of_known_distributions():
    uniform = torch.distributions.Categorical(logits=torch.zeros(7, 4))
    assert M.mean_entropy(uniform).item() == pytest.approx(math.log(4))
    normal = torch.distributions.Normal(torch.zeros(3), torch.full((3,), 2.0))
    assert M.mean_entropy(normal).item() == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 4.0))


def _mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())


def test_probe_loss_falls_on_a_fresh_net_and_not_on_a_dead_one():
    inputs = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    fresh = _mlp(0)
    before = [p.detach().clone() for p in fresh.parameters()]
    result = M.plasticity_probe(fresh, inputs, steps=100)
    assert result.initial_loss == pytest.approx(1.0, rel=1e-3)  # standardised targets, zero head
    assert result.loss_reduction > 0.5
    assert all(torch.equal(a, b) for a, b in zip(before, fresh.parameters()))  # the original is untouched

    dead = _mlp(0)
    with torch.no_grad():
        dead[0].bias.fill_(-100.0)  # every first-layer ReLU is off on every input
    assert M.plasticity_probe(dead, inputs, steps=100).loss_reduction < 0.02


def test_probe_leaves_global_rng_alone():
    net, inputs = _mlp(1), torch.randn(32, 4)
    state = torch.get_rng_state()
    M.plasticity_probe(net, inputs, steps=3)
    assert torch.equal(state, torch.get_rng_state())


def _layer_pair(seed=0, n=16):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=gen), torch.randn(n, generator=gen), torch.randn(5, n, generator=gen)


def test_zeroed_and_duplicated_units_are_counted_as_collapsed():
    w_in, b_in, w_out = _layer_pair()
    w_in[:3], b_in[:3], w_out[:, :3] = 0, 0, 0  # three dead-symmetric units
    w_in[6], b_in[6] = w_in[5], b_in[5]  # one duplicated pair
    stats = M.symmetry_collapse(w_in, b_in, [w_out])
    assert stats.n_units == 16
    assert stats.dead == pytest.approx(3 / 16)
    assert stats.duplicate == pytest.approx(2 / 16)
    assert stats.collapsed == pytest.approx(5 / 16)


def test_random_layer_has_no_collapse_and_one_sided_zero_is_not_dead():
    w_in, b_in, w_out = _layer_pair(1)
    assert M.symmetry_collapse(w_in, b_in, [w_out]).collapsed == 0
    w_in[0], b_in[0] = 0, 0  # zero incoming weights only: not at the in-and-out zero fixed point
    assert M.symmetry_collapse(w_in, b_in, [w_out]).dead == 0
    w_in[4] = w_in[3] * 1.5  # parallel but not identical: not a duplicate
    b_in[4] = b_in[3] * 1.5
    assert M.symmetry_collapse(w_in, b_in, [w_out]).duplicate == 0


def test_near_duplicates_within_tolerance_and_whole_layer_collapse_with_init_scale():
    w_in, b_in, w_out = _layer_pair(2)
    scale = M.typical_norm(M.incoming_vectors(w_in, b_in).norm(dim=1)).item()
    w_in[1] = w_in[0] + 0.001 * scale / math.sqrt(8)
    b_in[1] = b_in[0]
    assert M.symmetry_collapse(w_in, b_in, [w_out]).duplicate == pytest.approx(2 / 16)
    out_scale = M.typical_norm(M.outgoing_norms([w_out], 16)).item()
    zero = M.symmetry_collapse(torch.zeros(16, 8), torch.zeros(16), [torch.zeros(5, 16)], scale, out_scale)
    assert zero.dead == 1.0 and zero.duplicate == 0.0


def test_outgoing_norms_of_flattened_conv_channels():
    w_out = torch.zeros(3, 4 * 9)
    w_out[:, 9:18] = 1.0  # channel 1 owns columns 9..17
    norms = M.outgoing_norms([w_out], 4)
    assert norms.tolist() == pytest.approx([0.0, math.sqrt(27), 0.0, 0.0])
    with pytest.raises(ValueError, match="does not consume"):
        M.outgoing_norms([torch.zeros(3, 10)], 4)


@pytest.mark.parametrize(
    "call",
    [
        lambda: M.dormant_ratio(torch.ones(4, 4), tau=1.5),
        lambda: M.dormant_ratio(torch.ones(4)),
        lambda: M.active_fraction(torch.ones(4, 4), kind="swish-ish"),
        lambda: M.srank(torch.ones(4, 4), delta=-0.1),
        lambda: M.plasticity_probe(nn.Linear(2, 2), torch.ones(4, 2), steps=0),
        lambda: M.symmetry_collapse(torch.ones(4, 2), dead_tol=2.0),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
