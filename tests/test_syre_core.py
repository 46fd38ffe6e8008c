"""The syre core on plain torch modules: exactness against the explicit reparametrisation, symmetry traps, options."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from syre_rl.syre import AnchoredDecay, apply_syre, select_parameters


def make_mlp(seed: int = 0, hidden: int = 16) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def regression_batches(n: int = 50, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(32, 4, generator=g), torch.randn(32, 2, generator=g)) for _ in range(n)]


def reference_forward(x: torch.Tensor, thetas: list[torch.Tensor], offsets: list[torch.Tensor]) -> torch.Tensor:
    """The explicit f(x; theta + theta_0) for make_mlp's architecture."""
    w = [t + o for t, o in zip(thetas, offsets)]
    h = torch.tanh(F.linear(x, w[0], w[1]))
    h = torch.relu(F.linear(h, w[2], w[3]))
    return F.linear(h, w[4], w[5])


@pytest.mark.parametrize(
    "optimizer_name, mode",
    [("sgd", "coupled"), ("adam", "coupled"), ("adamw", "decoupled")],
)
def test_matches_explicit_reparametrisation(optimizer_name: str, mode: str) -> None:
    gamma, lr = 0.01, 1e-2
    net = make_mlp()
    thetas = [p.detach().clone().requires_grad_(True) for p in net.parameters()]  # theta = the usual init
    syre = apply_syre(net, weight_decay=gamma, seed=123, mode=mode)  # type: ignore[arg-type]
    offsets = [o.clone() for o in syre.theta_0]

    if optimizer_name == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        ref_opt = torch.optim.SGD(thetas, lr=lr, weight_decay=gamma)
    elif optimizer_name == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        ref_opt = torch.optim.Adam(thetas, lr=lr, weight_decay=gamma)
    else:  # decoupled syre == AdamW whose decay acts on theta
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        ref_opt = torch.optim.AdamW(thetas, lr=lr, weight_decay=gamma)
    syre.attach(opt)

    for x, y in regression_batches():
        opt.zero_grad()
        F.mse_loss(net(x), y).backward()
        opt.step()
        ref_opt.zero_grad()
        F.mse_loss(reference_forward(x, thetas, offsets), y).backward()
        ref_opt.step()

    for p, t, o in zip(net.parameters(), thetas, offsets):
        torch.testing.assert_close(p.detach(), t.detach() + o, atol=1e-6, rtol=0)
    # the package's theta() is the reference's trainable part
    for t, got in zip(thetas, syre.theta().values()):
        torch.testing.assert_close(got, t.detach(), atol=1e-6, rtol=0)
    assert max((p.detach() - t.detach()).abs().max().item() for p, t in zip(net.parameters(), thetas)) > 1e-4


def test_zero_anchor_reproduces_adam_weight_decay_bit_for_bit() -> None:
    """L2 through AnchoredDecay is torch Adam's own weight_decay: same numbers, so L2 and syre differ only in anchor."""
    a, b = make_mlp(), make_mlp()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2, eps=1e-5, weight_decay=0.002)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2, eps=1e-5)
    AnchoredDecay(b.named_parameters(), [torch.zeros_like(p) for p in b.parameters()], 0.002).attach(opt_b)
    for x, y in regression_batches(20):
        for net, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            F.mse_loss(net(x), y).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


# ---------------------------------------------------------------------------------------------- symmetry traps
def two_unit_net() -> nn.Sequential:
    """1 -> 2 ReLU units -> 1, with both hidden units identical (the permutation-symmetric state)."""
    net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.5], [0.5]]))
        net[0].bias.copy_(torch.tensor([0.1, 0.1]))
        net[2].weight.copy_(torch.tensor([[0.3, 0.3]]))
    return net


def fit_abs(net: nn.Module, steps: int, optimizer: torch.optim.Optimizer) -> float:
    """Regress |x| on [-1, 1]: one ReLU unit cannot fit it, two units with opposite signs can."""
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = x.abs()
    loss = torch.tensor(0.0)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def unit_gap(net: nn.Sequential) -> float:
    w_in = torch.cat([net[0].weight, net[0].bias.unsqueeze(1)], dim=1).detach()
    w_out = net[2].weight.detach()
    return float((w_in[0] - w_in[1]).norm() + (w_out[0, 0] - w_out[0, 1]).abs())


def test_identical_units_stay_identical_without_syre_and_separate_with_it() -> None:
    plain = two_unit_net()
    plain_loss = fit_abs(plain, 1500, torch.optim.Adam(plain.parameters(), lr=1e-2, weight_decay=0.01))
    assert unit_gap(plain) == 0.0  # exactly collapsed: the symmetric subspace is invariant under plain training

    treated = two_unit_net()
    syre = apply_syre(treated, weight_decay=0.01, sigma_0=0.05, seed=0)
    opt = torch.optim.Adam(treated.parameters(), lr=1e-2)
    syre.attach(opt)
    with torch.no_grad():  # put the effective weights back exactly on the symmetric point: theta_0 alone must break it
        treated.load_state_dict(two_unit_net().state_dict())
    assert unit_gap(treated) == 0.0
    syre_loss = fit_abs(treated, 1500, opt)
    assert unit_gap(treated) > 0.5
    assert syre_loss < 0.5 * plain_loss


def test_dead_unit_stays_dead_without_syre_and_revives_with_it() -> None:
    def net_with_dead_unit() -> nn.Sequential:
        torch.manual_seed(3)
        net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
        with torch.no_grad():  # unit 0: zero incoming weights and bias, zero outgoing weight
            net[0].weight[0].zero_()
            net[0].bias[0] = 0.0
            net[2].weight[0, 0] = 0.0
        return net

    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 2, generator=g)
    y = torch.relu(x @ torch.tensor([[1.0], [-2.0]])) + torch.relu(x @ torch.tensor([[-1.5], [0.5]]))

    def train(net: nn.Module, opt: torch.optim.Optimizer) -> None:
        for _ in range(800):
            opt.zero_grad()
            F.mse_loss(net(x), y).backward()
            opt.step()

    plain = net_with_dead_unit()
    train(plain, torch.optim.Adam(plain.parameters(), lr=1e-2, weight_decay=0.01))
    assert plain[0].weight[0].abs().max() == 0 and plain[0].bias[0] == 0 and plain[2].weight[0, 0] == 0

    treated = net_with_dead_unit()
    dead_state = {k: v.clone() for k, v in treated.state_dict().items()}
    syre = apply_syre(treated, weight_decay=0.01, seed=1)
    opt = torch.optim.Adam(treated.parameters(), lr=1e-2)
    syre.attach(opt)
    treated.load_state_dict(dead_state)  # the unit is exactly dead in the effective weights
    train(treated, opt)
    activation = torch.relu(x @ treated[0].weight[0] + treated[0].bias[0])
    assert (activation > 0).float().mean() > 0.05  # it fires again ...
    assert treated[2].weight[0, 0].abs() > 1e-3  # ... and the output reads it


# ---------------------------------------------------------------------------------------------- options and API
def test_offset_std_follows_fan_in_rule() -> None:
    torch.manual_seed(0)
    net = nn.ModuleDict(
        {
            "lin": nn.Linear(400, 300),
            "conv": nn.Conv2d(8, 64, kernel_size=5),
            "norm": nn.LayerNorm(5000),
            "emb": nn.Embedding(100, 64),
        }
    )
    syre = apply_syre(net, seed=0)
    std = {name: a.std().item() for name, a in zip(syre.names, syre.theta_0)}
    expected = {
        "lin.weight": 0.01 / math.sqrt(400),
        "lin.bias": 0.01 / math.sqrt(400),  # a 1-D tensor takes its module's weight fan-in
        "conv.weight": 0.01 / math.sqrt(8 * 25),
        "conv.bias": 0.01 / math.sqrt(8 * 25),
        "norm.weight": 0.01,  # no weight matrix in the module: fan-in 1
        "norm.bias": 0.01,
        "emb.weight": 0.01 / math.sqrt(64),
    }
    assert set(std) == set(expected)
    for name, value in expected.items():
        assert std[name] == pytest.approx(value, rel=0.15), name


def test_shift_is_theta_0_and_seed_reproducible() -> None:
    a, b, c = make_mlp(), make_mlp(), make_mlp()
    init = [p.detach().clone() for p in a.parameters()]
    sa, sb, sc = apply_syre(a, seed=7), apply_syre(b, seed=7), apply_syre(c, seed=8)
    for p, p0, o in zip(a.parameters(), init, sa.theta_0):
        torch.testing.assert_close(p.detach() - p0, o)
    assert all(torch.equal(x, y) for x, y in zip(sa.theta_0, sb.theta_0))
    assert not torch.equal(sa.theta_0[0], sc.theta_0[0])
    torch.manual_seed(5)
    sd = apply_syre(make_mlp(), seed=None)
    torch.manual_seed(5)
    se = apply_syre(make_mlp(), seed=None)
    assert sd.seed == se.seed and torch.equal(sd.theta_0[0], se.theta_0[0])


def test_offsets_match_parameter_dtype_and_are_seed_identical_across_dtypes() -> None:
    net32, net64 = make_mlp(), make_mlp().double()
    s32, s64 = apply_syre(net32, seed=3), apply_syre(net64, seed=3)
    assert s64.theta_0[0].dtype == torch.float64
    torch.testing.assert_close(s64.theta_0[0].float(), s32.theta_0[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_anchors_follow_the_module_to_cuda() -> None:
    net = make_mlp()
    syre = apply_syre(net, seed=0)
    reference = [a.clone() for a in syre.theta_0]
    net.cuda()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    syre.attach(opt)
    x, y = regression_batches(1)[0]
    F.mse_loss(net(x.cuda()), y.cuda()).backward()
    opt.step()
    assert syre.theta_0[0].device.type == "cuda"
    assert all(torch.equal(a.cpu(), r) for a, r in zip(syre.theta_0, reference))


def test_ar_spread_scales_the_decay_per_element() -> None:
    net = make_mlp()
    syre = apply_syre(net, weight_decay=0.5, ar_spread=0.1, seed=0)
    assert syre.scales is not None
    d = syre.scales[0]
    assert d.min() >= 0.9 and d.max() <= 1.1 and d.std() > 0.01
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    syre.attach(opt)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    expected = [0.5 * s * (p.detach() - a) for p, a, s in zip(net.parameters(), syre.theta_0, syre.scales)]
    syre.apply(opt)
    for p, e in zip(net.parameters(), expected):
        torch.testing.assert_close(p.grad, e)


def test_decay_only_touches_the_optimizer_own_parameters() -> None:
    net = make_mlp()
    syre = apply_syre(net, weight_decay=1.0, seed=0)
    first, rest = list(net[0].parameters()), [p for m in list(net)[1:] for p in m.parameters()]
    opt_first, opt_rest = torch.optim.SGD(first, lr=0.1), torch.optim.SGD(rest, lr=0.1)
    syre.attach(opt_first)
    syre.attach(opt_rest)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    before = [p.detach().clone() for p in net.parameters()]
    opt_first.step()
    after = list(net.parameters())
    assert not torch.equal(after[0], before[0])
    assert all(torch.equal(a, b) for a, b in zip(after[2:], before[2:]))


def test_anchors_travel_in_the_optimizer_state_dict() -> None:
    net, other = make_mlp(), make_mlp()
    syre = apply_syre(net, seed=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    syre.attach(opt)
    state = opt.state_dict()
    syre_other = apply_syre(other, seed=2)
    opt_other = torch.optim.Adam(other.parameters(), lr=1e-3)
    syre_other.attach(opt_other)
    opt_other.load_state_dict(state)
    assert syre_other.seed == 1
    assert all(torch.equal(a, b) for a, b in zip(syre.theta_0, syre_other.theta_0))
    # a plain optimizer ignores the extra entry
    torch.optim.Adam(make_mlp().parameters(), lr=1e-3).load_state_dict(state)


def test_detach_removes_the_decay() -> None:
    net = make_mlp()
    syre = apply_syre(net, weight_decay=1.0, seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    syre.attach(opt)
    syre.detach()
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    before = [p.detach().clone() for p in net.parameters()]
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), before))


def test_include_and_exclude_filters() -> None:
    net = make_mlp()
    names = [n for n, *_ in select_parameters(net, exclude=("bias",))]
    assert names == ["0.weight", "2.weight", "4.weight"]
    syre = apply_syre(net, include=lambda name, p: p.dim() == 2, seed=0)
    assert syre.names == ["0.weight", "2.weight", "4.weight"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sigma_scale": -0.1}, "sigma_scale must be a finite number >= 0, got -0.1"),
        ({"sigma_0": float("nan")}, "sigma_0 must be a finite number >= 0, got nan"),
        ({"weight_decay": float("inf")}, "weight_decay must be a finite number >= 0, got inf"),
        ({"weight_decay": -1}, "weight_decay must be a finite number >= 0, got -1"),
        ({"mode": "sideways"}, "mode must be one of ('coupled', 'decoupled'), got 'sideways'"),
        ({"ar_spread": 1.5}, "ar_spread must be in [0, 1)"),
        ({"include": lambda name, p: False}, "found no trainable parameters"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(kwargs: dict, message: str) -> None:
    net = make_mlp()
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError) as err:
        apply_syre(net, **kwargs)
    assert message in str(err.value)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), before))  # nothing was shifted


def test_no_parameters_is_rejected() -> None:
    with pytest.raises(ValueError, match="found no trainable parameters in ReLU"):
        apply_syre(nn.ReLU())


def test_a_deep_copy_of_network_and_optimizer_keeps_decaying() -> None:
    import copy

    net = make_mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    syre = apply_syre(net, weight_decay=1.0, seed=0, optimizer=opt)
    bundle = copy.deepcopy({"net": net, "opt": opt, "syre": syre})
    copy_net, copy_opt = bundle["net"], bundle["opt"]
    bundle["syre"].reattach(copy_opt)  # torch copies optimizers without their hooks
    for p in copy_net.parameters():
        p.grad = torch.zeros_like(p)
    expected = [p.detach() - 0.1 * (p.detach() - a) for p, a in zip(copy_net.parameters(), bundle["syre"].theta_0)]
    original = [p.detach().clone() for p in net.parameters()]
    copy_opt.step()
    for p, e in zip(copy_net.parameters(), expected):
        torch.testing.assert_close(p.detach(), e)
    assert all(torch.equal(p, o) for p, o in zip(net.parameters(), original))  # the original is untouched


def test_reinitialised_parameters_follow_each_anchor_kind() -> None:
    net = make_mlp()
    syre = apply_syre(net, seed=0)
    fresh = torch.randn_like(net[0].weight)
    with torch.no_grad():
        net[0].weight.copy_(fresh)
    syre.reinitialised({"0.weight"})
    torch.testing.assert_close(net[0].weight.detach(), fresh + syre.theta_0[0])  # fresh theta, same theta_0

    other = make_mlp()
    untouched = other[2].weight.detach().clone()
    l2_init = AnchoredDecay(other.named_parameters(), [p.detach() for p in other.parameters()], reanchor_on_reinit=True)
    l2 = AnchoredDecay(other.named_parameters(), [torch.zeros_like(p) for p in other.parameters()])
    with torch.no_grad():
        other[0].weight.copy_(fresh)
    l2_init.reinitialised({"0.weight"})
    l2.reinitialised({"0.weight"})
    assert torch.equal(l2_init.anchors[0], fresh) and not l2.anchors[0].any()
    assert torch.equal(l2_init.anchors[2], untouched)  # parameters not re-initialised keep their anchors


def test_an_unpickled_network_and_optimizer_keep_decaying() -> None:
    import pickle

    net2 = make_mlp()
    opt2 = torch.optim.SGD(net2.parameters(), lr=0.1)
    syre2 = apply_syre(net2, weight_decay=1.0, seed=0, optimizer=opt2)
    restored = pickle.loads(pickle.dumps({"net": net2, "opt": opt2, "syre": syre2}))
    r_net, r_opt, r_syre = restored["net"], restored["opt"], restored["syre"]
    assert all(p is q for p, q in zip(r_syre.params, r_net.parameters()))  # indexes the unpickled parameters
    for p in r_net.parameters():
        p.grad = torch.zeros_like(p)
    expected = [p.detach() - 0.1 * (p.detach() - a) for p, a in zip(r_net.parameters(), r_syre.theta_0)]
    r_opt.step()
    for p, e in zip(r_net.parameters(), expected):
        torch.testing.assert_close(p.detach(), e)


def test_coupled_decay_pulls_toward_the_anchor_under_a_maximizing_optimizer() -> None:
    net = make_mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, maximize=True)
    syre = apply_syre(net, weight_decay=1.0, seed=0, optimizer=opt)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    expected = [p.detach() - 0.1 * (p.detach() - a) for p, a in zip(net.parameters(), syre.theta_0)]
    opt.step()
    for p, e in zip(net.parameters(), expected):
        torch.testing.assert_close(p.detach(), e)


def test_misuse_is_refused() -> None:
    net = make_mlp()
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"exclude names \['0.wieght'\] match no trainable parameter"):
        apply_syre(net, exclude=("0.wieght",))
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before))  # nothing shifted
    apply_syre(net, seed=0, exclude=("log_std",))  # the optional SB3 exclusion may match nothing
    with pytest.raises(ValueError, match="already shifted by a theta_0; apply syre once per module"):
        apply_syre(net, seed=1)
    fresh, other = make_mlp(), make_mlp()
    before = [p.detach().clone() for p in fresh.parameters()]
    with pytest.raises(ValueError, match="SGD trains none of the 6 decayed parameters"):
        apply_syre(fresh, optimizer=torch.optim.SGD(other.parameters(), lr=0.1))
    assert all(torch.equal(p, b) for p, b in zip(fresh.parameters(), before))  # nothing shifted
