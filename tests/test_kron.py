"""KronOptimizer: kron_torch's Kron with its whole state saved and restored, run eagerly."""

from __future__ import annotations

import contextlib
import io
import pickle
from collections.abc import Callable, Iterator

import pytest
import torch

kron_torch = pytest.importorskip("kron_torch")

from kron_torch.kron import ProbScheduler  # noqa: E402

from syre_rl.interventions.kron import KronOptimizer, update_probability  # noqa: E402


def small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def batches(seed: int = 1) -> Iterator[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield torch.randn(16, 4, generator=generator)


def train(net: torch.nn.Module, optimizer: torch.optim.Optimizer, data: Iterator[torch.Tensor], steps: int) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        net(next(data)).pow(2).sum().backward()
        with contextlib.redirect_stdout(io.StringIO()), torch.compiler.set_stance("force_eager"):
            optimizer.step()


def reference_kron(params: object) -> torch.optim.Optimizer:
    schedule = ProbScheduler()
    schedule._compiled = False  # kron_torch's own schedule, uncompiled
    return kron_torch.Kron(params, lr=1e-2, preconditioner_update_probability=schedule)


def same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_schedule_is_krons() -> None:
    schedule = ProbScheduler()
    schedule._compiled = False
    for step in (0, 499, 500, 501, 1000, 3000, 4000, 10_000):
        assert torch.equal(update_probability(step), schedule(torch.tensor(step, dtype=torch.float32)))
    assert update_probability(0).item() == 1.0 and update_probability(10_000).item() == pytest.approx(0.03)


def test_same_updates_as_kron_torch_through_the_anneal() -> None:
    # 700 steps: probability 1 for 500 steps, then the preconditioner is updated only on some steps.
    torch.manual_seed(123)
    a = small_net()
    train(a, reference_kron(a.parameters()), batches(), 700)
    torch.manual_seed(123)
    b = small_net()
    train(b, KronOptimizer(b.parameters(), lr=1e-2), batches(), 700)
    assert same(a, b)
    assert not same(b, small_net())


def resumed(make: Callable[[object], torch.optim.Optimizer], steps: int, at: int) -> torch.nn.Module:
    """Train ``steps`` steps, stopping at ``at``: the state goes through torch.save and a weights-only load (as SB3
    loads it) into a new network and optimizer, with torch's RNG state."""
    torch.manual_seed(123)
    data = batches()
    net = small_net()
    optimizer = make(net.parameters())
    train(net, optimizer, data, at)
    buffer = io.BytesIO()
    torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    net = small_net()
    net.load_state_dict(saved["net"])
    optimizer = make(net.parameters())
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["rng"])
    train(net, optimizer, data, steps - at)
    return net


def test_a_resumed_run_is_the_uninterrupted_run() -> None:
    # Stopped at 520 steps: in the anneal, with the update counter part-way and the balancing generator advanced.
    torch.manual_seed(123)
    whole = small_net()
    train(whole, KronOptimizer(whole.parameters(), lr=1e-2), batches(), 600)
    assert same(resumed(lambda p: KronOptimizer(p, lr=1e-2), 600, 520), whole)


def test_kron_torch_itself_does_not_resume() -> None:
    # Why KronOptimizer exists. kron_torch.Kron's default schedule is an object a weights-only load refuses; with a
    # fixed probability its state loads, but the einsum expressions come back as text of generators, and the
    # counters and the balancing generator are not in the state at all.
    net = small_net()
    buffer = io.BytesIO()
    torch.save(kron_torch.Kron(net.parameters()).state_dict(), buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buffer, weights_only=True)
    optimizer = kron_torch.Kron(net.parameters(), lr=1e-2, preconditioner_update_probability=1.0)
    train(net, optimizer, batches(), 3)
    loaded = kron_torch.Kron(net.parameters(), lr=1e-2, preconditioner_update_probability=1.0)
    loaded.load_state_dict(optimizer.state_dict())
    weight = next(net.parameters())
    assert "generator object" in str(loaded.state[weight]["exprs"])
    assert set(optimizer.state_dict()) == {"state", "param_groups"}
    ours = KronOptimizer(net.parameters(), lr=1e-2)
    ours.load_state_dict(optimizer.state_dict())
    assert ours.state[weight]["exprs"] == optimizer.state[weight]["exprs"]


def test_loads_a_kron_torch_state() -> None:
    torch.manual_seed(123)
    net = small_net()
    optimizer = kron_torch.Kron(net.parameters(), lr=1e-2, preconditioner_update_probability=1.0)
    train(net, optimizer, batches(), 5)
    loaded = KronOptimizer(net.parameters(), lr=1e-2)
    loaded.load_state_dict(optimizer.state_dict())
    assert loaded.state[next(net.parameters())]["exprs"] == optimizer.state[next(net.parameters())]["exprs"]
    train(net, loaded, batches(2), 5)
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_conv_weights_save_as_plain_values() -> None:
    # Tensors of more than 2 dimensions are viewed as matrices; their merged shape must not be numpy integers,
    # which a weights-only load refuses.
    conv = torch.nn.Conv2d(2, 3, 3)
    optimizer = KronOptimizer(conv.parameters())
    conv(torch.randn(1, 2, 5, 5)).sum().backward()
    optimizer.step()
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["state"][0]["merged_shape"] == [18, 3] or state["state"][0]["merged_shape"] == [3, 18]


@pytest.mark.parametrize("bad", [0, 1.5, -0.1, True, "often"])
def test_refuses_a_bad_probability(bad: object) -> None:
    with pytest.raises(ValueError, match=r"preconditioner_update_probability must be None or in \(0, 1\]"):
        KronOptimizer(small_net().parameters(), preconditioner_update_probability=bad)  # type: ignore[arg-type]


def test_refuses_a_bad_memory_mode() -> None:
    with pytest.raises(ValueError, match=r"memory_save_mode must be None, 'smart_one_diag'.*got 'some'"):
        KronOptimizer(small_net().parameters(), memory_save_mode="some")


def test_fixed_probability_updates_every_step() -> None:
    torch.manual_seed(0)
    net = small_net()
    optimizer = KronOptimizer(net.parameters(), preconditioner_update_probability=1.0)
    train(net, optimizer, batches(), 3)
    assert optimizer.param_groups[0]["preconditioner_update_probability"] == 1.0
    assert int(optimizer._update_counter) == 0  # reset at every update
