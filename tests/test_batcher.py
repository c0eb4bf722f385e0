"""The in-memory batcher: epochs, seeds, binarization, state round trip and sharding."""

import torch

from latentlab.data.batcher import Batcher


def data(n=50):
    return {"x": torch.rand(n, 1, 2, 2), "y": torch.arange(n)}


def test_every_example_once_per_epoch_and_full_batches():
    b = Batcher(data(50), 7, seed=0)
    ys = torch.cat([b.next()["y"] for _ in range(50)])  # 350 = 7 epochs exactly
    assert all(len(chunk) == 50 for chunk in ys.split(50))
    for chunk in ys.split(50):
        assert torch.equal(chunk.sort().values, torch.arange(50))


def test_same_seed_same_stream_other_seed_other_stream():
    a, b, c = Batcher(data(), 8, seed=1), Batcher(data(), 8, seed=1), Batcher(data(), 8, seed=2)
    sa, sb, sc = ([s.next()["y"] for _ in range(10)] for s in (a, b, c))
    assert all(torch.equal(u, v) for u, v in zip(sa, sb))
    assert not all(torch.equal(u, v) for u, v in zip(sa, sc))


def test_state_round_trip_continues_the_same_stream():
    d = data()
    a = Batcher(d, 9, seed=0, binarization="dynamic")
    for _ in range(13):
        a.next()
    b = Batcher(d, 9, seed=5, binarization="dynamic")
    b.load_state_dict(a.state_dict())
    for _ in range(20):
        u, v = a.next(), b.next()
        assert torch.equal(u["y"], v["y"]) and torch.equal(u["x"], v["x"])


def test_binarization_modes():
    d = {"x": torch.full((40, 1, 3, 3), 0.5), "y": torch.arange(40)}
    static = Batcher(d, 40, seed=0, binarization="static")
    first, second = static.next(), static.next()
    order = first["y"].argsort(), second["y"].argsort()
    assert torch.equal(first["x"][order[0]], second["x"][order[1]])  # one draw for the whole run
    dynamic = Batcher(d, 40, seed=0, binarization="dynamic")
    u, v = dynamic.next(), dynamic.next()
    assert set(u["x"].unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(u["x"][u["y"].argsort()], v["x"][v["y"].argsort()])  # a fresh draw per batch
    assert torch.equal(Batcher(d, 40, seed=0).next()["x"], d["x"][:40])  # none keeps grey values


def test_ranks_split_the_global_batch():
    d = data()
    whole = Batcher(d, 8, seed=0, binarization="dynamic")
    ranks = [Batcher(d, 8, seed=0, binarization="dynamic", rank=r, world_size=2) for r in range(2)]
    for _ in range(10):
        w = whole.next()
        parts = [r.next() for r in ranks]
        assert torch.equal(torch.cat([p["x"] for p in parts]), w["x"])
