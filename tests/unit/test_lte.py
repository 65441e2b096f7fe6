"""LoRA-the-Explorer: the LoRA layer, the reset-less merge and the cost formulas against hand computations, the toy's
claim (one LoRA stalls above its rank-r floor, LTE goes below it), seeds, worker counts and bad input."""
import json
import math

import pytest
import torch

from backends import lte, sweeps
from backends.config import InputError

pytestmark = pytest.mark.usefixtures("one_thread")


def _toy(**kw):
    base = dict(network="toy", heads=2, rank=4, merge_every=3, steps=6, batch=4, evals=2)
    base.update(kw)
    return lte.check_settings(**base)


# ----- the LoRA layer and its init ----------------------------------------------------------------------------


def test_lora_layer_computes_w_x_plus_s_times_the_change_since_the_last_merge():
    cls = lte._lora_linear_cls()
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 7, generator=g)
    layer = cls(w, rank=3, scale=2.5)
    x = torch.randn(4, 7, generator=g)
    torch.testing.assert_close(layer(x), x @ w.T)  # B = 0: the layer is W
    with torch.no_grad():
        for t in (layer.A, layer.B, layer.A_prev, layer.B_prev):
            t.copy_(torch.randn(t.shape, generator=g))
    want = x @ w.T + 2.5 * (x @ (layer.B @ layer.A - layer.B_prev @ layer.A_prev).T)
    torch.testing.assert_close(layer(x), want, atol=1e-5, rtol=1e-5)


def test_a_starts_with_orthonormal_rows_b_at_zero_and_heads_differ():
    s = _toy()
    net = lte._Net(s)
    main = net.main_state()
    h0, h1 = lte._Head(net, 0, main), lte._Head(net, 1, main)
    a0 = h0.params["0.A"].detach()
    torch.testing.assert_close(a0 @ a0.T, torch.eye(s.rank), atol=1e-5, rtol=0)
    assert h0.params["0.B"].abs().sum() == 0
    assert not torch.allclose(a0, h1.params["0.A"].detach())
    assert lte._orthonormal_rows(5, 3, torch.Generator().manual_seed(0)).shape == (5, 3)  # r > n: zero rows


def test_costs_follow_the_notes_formulas():
    s = lte.check_settings(heads=4, rank=8, merge_every=10, steps=95, batch=16)
    c = lte.costs(1000, 100, 20, s)
    assert c["M_lte"] == 120  # LoRA factors + the averaged other parameters
    assert c["full_allreduce"]["per_step"] == 4 * 3 * 1000 * 4  # N (N - 1) M, float32 bytes
    assert c["full_server"]["per_step"] == 2 * 3 * 1000 * 4  # 2 (N - 1) M
    assert c["lte"]["per_merge"] == 3 * (1000 + 120) * 4 and c["lte"]["merges"] == 10
    assert c["lte"]["per_step"] == pytest.approx(3 * 1120 * 4 / 10)  # (1/T)(N - 1)(qM + M_lte)
    assert c["lte"]["total"] == 10 * 3 * 1120 * 4
    assert c["lte_4bit"]["per_merge"] == 3 * (250 + 120) * 4
    assert c["memory"]["full"] == 3 * 1000 * 4 and c["memory"]["lte"] == (1000 + 3 * 120) * 4
    assert c["memory"]["lte_4bit"] == (250 + 3 * 120) * 4
    frozen = lte.costs(1000, 100, 20, lte.check_settings(heads=4, steps=95, batch=16, others="frozen"))
    assert frozen["M_lte"] == 100


def test_toy_floor_is_the_tail_of_the_singular_values():
    s = _toy(rank=60)
    w_star, w0 = lte._toy_matrices(s)
    sv = torch.linalg.svdvals((w_star - w0).double())
    assert lte.toy_floor(s) == pytest.approx(float((sv[60:] ** 2).sum()) / lte.TOY_DIM)
    assert lte.toy_floor(_toy(rank=64)) == pytest.approx(0.0, abs=1e-12)


# ----- the merge, by hand -----------------------------------------------------------------------------------------


def test_rounds_merge_the_mean_of_the_heads_changes_and_start_from_the_merged_weights():
    s = _toy(heads=3, merge_every=2, steps=4, batch=6)
    net = lte._Net(s)
    main0 = net.main_state()
    with sweeps.worker_pool("lte", s.options(), workers=2, backend="local") as pool:
        run = lte._LTERun("lte", s.merge_every, net, main0, pool)
        assert run.assign == [[0, 2], [1]]  # head n on worker n % W
        heads = {n: pool._states[n % 2].heads for n in range(3)}
        run.round()
        hs = [heads[n][("lte", n)] for n in range(3)]
        ba1 = [(h.params["0.B"] @ h.params["0.A"]).detach() for h in hs]
        want = main0["0.weight"] + sum(s.scale * ba for ba in ba1) / 3
        torch.testing.assert_close(run.main["0.weight"], want, atol=1e-6, rtol=1e-5)
        run.round()  # round 2: each head's change since its last merge, B A - B_prev A_prev
        ba2 = [(h.params["0.B"] @ h.params["0.A"]).detach() for h in hs]
        want2 = want + sum(s.scale * (b - a) for a, b in zip(ba1, ba2)) / 3
        torch.testing.assert_close(run.main["0.weight"], want2, atol=1e-6, rtol=1e-5)
        for h in hs:  # a new round starts from the merged W exactly (prev := current)
            h.begin_round(run.main)
            torch.testing.assert_close(h.effective(net, run.main)["0.weight"], run.main["0.weight"])
    assert len(run.losses) == 4 and len(run.similarity) == 2


def test_other_parameters_are_averaged_at_merges():
    s = lte.check_settings(network="lm", heads=2, rank=2, merge_every=2, steps=2, batch=2, layers=1, hidden=16,
                           seq_len=16, eval_blocks=1)
    net = lte._Net(s)
    assert "lm_head.weight" in net.others and "model.embed_tokens.weight" in net.others
    assert all(".layers." in f".{n}" for n in net.lora_layers) and len(net.lora_layers) == 7
    with sweeps.worker_pool("lte", s.options(), workers=1, backend="local") as pool:
        run = lte._LTERun("lte", 2, net, net.main_state(), pool)
        run.round()
        hs = [pool._states[0].heads[("lte", n)] for n in range(2)]
        for name in ("lm_head.weight", "model.norm.weight"):
            want = (hs[0].params[name] + hs[1].params[name]).detach() / 2
            torch.testing.assert_close(run.main[name], want)
            assert not torch.equal(hs[0].params[name], hs[1].params[name])  # each head trained its own copy


# ----- the comparison ---------------------------------------------------------------------------------------------


def test_toy_single_lora_stalls_above_its_floor_and_lte_goes_below_it():
    r = lte.train_lte(heads=4, rank=8, merge_every=10, steps=150, seed=0, network="toy", batch=16, evals=3,
                      threads=1)
    assert r.done and set(r.losses) == {"full", "lora", "lte"}
    assert r.samples["lte"][-1] == r.samples["full"][-1] == 150 * 16
    assert r.final("lora") >= r.floor - 1e-6  # rank 8: it cannot do better, whatever the training
    assert r.final("lte") < 0.6 * r.floor < r.floor < r.final("lora")
    assert r.final("full") < r.final("lte")
    assert len(r.train_losses["lte"]) == 150 and 0 < r.head_similarity[-1] < 0.5
    json.dumps(r.to_dict())  # JSON-able
    header, rows = r.curve_rows()
    assert header[0] == "scheme" and {row[0] for row in rows} == {"full", "lora", "lte"}


def test_same_seed_same_numbers_and_the_worker_count_does_not_matter():
    kw = dict(heads=3, rank=2, merge_every=2, steps=6, batch=6, network="toy", evals=3, extra_merge_every="1",
              threads=1)
    a = lte.train_lte(seed=3, workers=1, **kw)
    b = lte.train_lte(seed=3, workers=3, **kw)
    c = lte.train_lte(seed=4, workers=1, **kw)
    assert set(a.losses) == {"full", "lora", "lte", "lte_T1"} and b.workers == 3
    assert a.losses == b.losses and a.train_losses == b.train_losses
    assert a.losses["lte"] != c.losses["lte"]


def test_a_deadline_stops_with_what_was_evaluated_and_closing_stops_the_generator():
    r = lte.train_lte(heads=2, rank=2, merge_every=2, steps=40, batch=4, network="toy", deadline=0.0, threads=1)
    assert r.stopped == "time cap" and not r.done and r.losses["full"] == r.losses["lte"][:1]
    it = lte.train_lte_iter(heads=2, rank=2, merge_every=2, steps=40, batch=4, network="toy", threads=1)
    first = next(it)
    assert first.phase == "starting" and len(first.losses["lte"]) == 1
    it.close()


@pytest.mark.parametrize("kw, message", [
    ({"batch": 10, "heads": 4}, r"batch \(10\) must be a multiple of the heads \(4\)"),
    ({"network": "mlp"}, "Network must be one of toy, lm"),
    ({"merge_every": 50, "steps": 20}, "Merge interval T must be"),
    ({"others": "sum"}, "'average' .* or 'frozen'"),
    ({"extra_merge_every": "1, x"}, "whole numbers like '1, 50'"),
    ({"extra_merge_every": [1, 2, 3, 4, 5]}, "At most 4 other merge intervals"),
    ({"rank": 0}, "Rank must be"),
    ({"alpha": float("nan")}, "Alpha must be"),
    ({"network": "lm", "hidden": 12}, r"width \(12\) must be a multiple of 8"),
])
def test_bad_settings_are_refused_with_a_message(kw, message):
    with pytest.raises(InputError, match=message):
        lte.check_settings(**kw)


def test_bad_backend_is_refused():
    with pytest.raises(InputError, match="Unknown backend"):
        lte.train_lte(merge_every=1, steps=2, batch=4, backend="gpu-farm")


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, backends.lte; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert math.isfinite(lte.check_settings().scale)
