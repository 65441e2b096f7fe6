"""bGPT at toy scale: the patch structure against the note's formulas, the file generators, BPB, determinism by
seed, generation and bad input. Tiny models only (hidden 32, a few steps)."""
import bz2
import csv
import gzip
import io
import json
import math
import random
import struct

import numpy as np
import pytest
import torch

from backends import byte_data as D
from backends import byte_model as B
from backends.config import InputError

TINY = B.ByteConfig(hidden=32, patch_layers=1, byte_layers=1, heads=2, max_patches=64)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def net():
    return B.build_net(TINY, seed=3)


# ----- the model against the formulas ----------------------------------------------------------------------------


def test_patch_embedding_is_flattened_onehot_times_w_linear(net):
    patches = torch.from_numpy(B.to_patches([bytes(range(40)), b"hello"]))  # (2, 3, 16), EOP-padded
    onehot = torch.nn.functional.one_hot(patches, B.V).float().flatten(-2)  # (2, 3, 257 * 16)
    w_linear = net.patch_embed.weight  # (257 * 16, H): row j * 257 + symbol
    assert w_linear.shape == (257 * 16, 32)
    torch.testing.assert_close(net.embed_patches(patches), onehot @ w_linear)


def test_to_patches_pads_the_last_patch_with_end_of_patch():
    p = B.to_patches([b"a" * 20, b"b" * 3])
    assert p.shape == (2, 2, 16)
    assert (p[0, 1, :4] == ord("a")).all() and (p[0, 1, 4:] == 256).all()
    assert (p[1, 0, 3:] == 256).all() and (p[1, 1] == 256).all()


def test_patch_decoder_is_causal_and_byte_decoder_autoregressive_within_a_patch(net):
    a = bytes(random.Random(0).randrange(256) for _ in range(64))  # 4 patches
    b = a[:37] + bytes([(a[37] + 1) % 256]) + a[38:]  # byte 37 = patch 2, position 5
    la, lb = (B.byte_logprobs(net, [x])[0] for x in (a, b))
    # predictions of bytes 0..37 never see byte 37; patch 2's bytes after it do (same patch), and so does patch 3
    np.testing.assert_allclose(la[:38], lb[:38], atol=1e-6)
    assert not np.allclose(la[38], lb[38]) and not np.allclose(la[48:], lb[48:])
    with torch.no_grad():  # patch features: E^_i depends on patches < i only
        fa = net.patch_features(torch.from_numpy(B.to_patches([a])))
        fb = net.patch_features(torch.from_numpy(B.to_patches([b])))
    torch.testing.assert_close(fa[:, :3], fb[:, :3])
    assert not torch.allclose(fa[:, 3], fb[:, 3])


def test_bits_per_byte_is_nll_over_t_ln2(net):
    files = [b"the cat sat on the mat", bytes(range(50))]
    logps = B.byte_logprobs(net, files)
    nll = sum(-float(lp[t, f[t]]) for lp, f in zip(logps, files) for t in range(len(f)))
    assert B.bits_per_byte(net, files) == pytest.approx(nll / (72 * math.log(2)), rel=1e-6)
    # an untrained model is close to uniform over 257 symbols: about log2(257) = 8.006 bits
    assert B.bits_per_byte(net, files) == pytest.approx(math.log2(257), abs=0.3)
    for lp in logps:  # each position is a distribution over the 257 symbols
        np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, atol=1e-4)


def test_incremental_next_byte_matches_the_batched_scores(net):
    data = bytes(random.Random(1).randrange(256) for _ in range(40))
    lp = B.byte_logprobs(net, [data])[0]
    with torch.no_grad():
        for t in (0, 5, 16, 33):
            inc = torch.log_softmax(B._next_logits(net, data[:t]), -1).numpy()
            np.testing.assert_allclose(inc, lp[t], atol=1e-4)


# ----- the files --------------------------------------------------------------------------------------------------


def test_toy_cpu_steps_by_hand():
    cpu = D.ToyCPU(bits=4)
    s0 = bytes([0] * 6 + [3, 9, 15, 0, 0, 0, 0, 0, 0, 0])
    s1 = cpu.step(s0, (2, 0, 1, 0))  # ADD r0, r1: 3 + 9 = 12
    assert s1 == bytes([1, 12, 2, 0, 1, 0, 12, 9, 15] + [0] * 7)
    s2 = cpu.step(s1, (7, 2, 0, 0))  # INC r2: 15 + 1 wraps to 0 in 4 bits
    assert list(s2[:2]) == [2, 0] and s2[8] == 0 and list(s2[2:6]) == [7, 2, 0, 0]
    s3 = cpu.step(s2, (3, 1, 0, 0))  # SUB r1, r0: 9 - 12 = -3 = 13 (mod 16)
    assert s3[7] == 13 and s3[1] == 13
    s8 = D.ToyCPU(bits=8).step(s0, (6, 2, 1, 0))  # XOR r2, r1 in 8 bits: 15 ^ 9 = 6
    assert s8[8] == 6 and len(s8) == 16


def test_cpu_trace_layout():
    f = D.cpu_file(random.Random(0), n=3)
    assert len(f) == 32 + 16 * 4 and f[12:32] == bytes([0xFF]) * 20
    start, end = D.cpu_state_span(f)
    assert (start, end) == (48, 96)
    cpu = D.ToyCPU()
    prog = [tuple(f[i: i + 4]) for i in range(0, 12, 4)]
    assert b"".join(cpu.trace(prog, f[32:48])) == f[32:]


def test_rule_baselines_leave_only_execution_to_learn():
    cpu = D.ToyCPU(bits=4)
    start = bytes([0] * 6 + [3, 9, 15, 0, 0, 0, 0, 0, 0, 0])
    prog = [(2, 0, 1, 0), (7, 2, 0, 0)]  # ADD r0, r1 (12), then INC r2 (wraps to 0)
    code = b"".join(bytes(i) for i in prog) + bytes([D.PAD]) * (D.PROGRAM_BYTES - 8)
    trace = code + b"".join(cpu.trace(prog, start))
    got = D.rule_baselines([trace])
    # Step 1: copy misses the accumulator (0 -> 12), IR bytes op 0 -> 2 and b 0 -> 1, and r0 (3 -> 12): 12 of 16;
    # fetch gets the IR right: 14. Step 2: copy misses the accumulator (12 -> 0), the IR's op, a and b, and r2: 11;
    # fetch: 14. Byte-wise over both steps:
    assert got == {"copy": (12 + 11) / 32, "copy + fetch": (14 + 14) / 32}
    held = [D.cpu_file(random.Random(i)) for i in range(20)]
    rules = D.rule_baselines(held)
    assert 0.5 < rules["copy"] < rules["copy + fetch"] < 1


def test_bmp_has_real_headers():
    f = D.bmp_file(random.Random(2))
    magic, size, _, _, offset = struct.unpack("<2sIHHI", f[:14])
    hsize, w, h, planes, bpp = struct.unpack("<IiiHH", f[14:30])
    assert (magic, size, offset, hsize, w, h, planes, bpp) == (b"BM", len(f), 54, 40, 16, 16, 1, 24)
    assert len(f) == 54 + 16 * 16 * 3


def test_csv_and_json_parse_and_everything_is_deterministic():
    rows = list(csv.reader(io.StringIO(D.csv_file(random.Random(0)).decode())))
    assert rows[0] == ["date", "city", "item", "units", "unit_price", "total"] and all(len(r) == 6 for r in rows)
    recs = json.loads(D.json_file(random.Random(0)))
    assert recs and {"id", "name", "tags"} <= set(recs[0])
    a, b = D.file_sets(("csv", "bmp", "cpu"), 3, 2, seed=5), D.file_sets(("csv", "bmp", "cpu"), 3, 2, seed=5)
    assert a == b and a != D.file_sets(("csv", "bmp", "cpu"), 3, 2, seed=6)
    train, held = D.cpu_sets(50, 10, seed=0)
    assert not {t[:48] for t in train} & {h[:48] for h in held}
    assert all(len(h) == 32 + 16 * 9 for h in held)


def test_reference_bpb_counts_compressed_bits():
    files = [b"abc" * 50, b"hello world, " * 10]
    ref = D.reference_bpb(files)
    want = 8 * (len(gzip.compress(files[0], 9, mtime=0)) + len(gzip.compress(files[1], 9, mtime=0))) / 280
    assert ref["per_file"]["gzip"] == pytest.approx(want)
    assert ref["joined"]["bz2"] == pytest.approx(8 * len(bz2.compress(b"".join(files), 9)) / 280)
    assert set(ref["joined"]) == {"gzip", "bz2", "lzma", "zstd"}


# ----- training, the CPU experiment, analysis ------------------------------------------------------------------


def _tiny_run(seed=0):
    return B.train_byte_model(4, seed, ("csv", "cpu"), config=TINY, files_per_type=6, heldout_per_type=2,
                              eval_every=2)


def test_training_is_deterministic_and_json_able():
    a, b, c = _tiny_run(0), _tiny_run(0), _tiny_run(1)
    assert a.losses == b.losses and a.bits_per_byte == b.bits_per_byte and a.losses != c.losses
    assert set(a.bits_per_byte) == {"csv", "cpu"} and a.eval_steps == [0, 2, 4]
    assert a.bits_per_byte["csv"] < a.eval_bpb["csv"][0]  # four steps already help on CSV
    d = json.loads(json.dumps(a.to_dict()))
    assert d["reference_bpb"]["csv"]["per_file"]["zstd"] > 0 and "model" not in d
    cached = B.trained_model(c.key, train_if_none=False)  # by key; the same settings give the same key and weights
    assert cached.net is c.model and B.trained_model(a.key).key == a.key
    header, rows = a.bpb_rows()
    assert header[:3] == ["file_type", "heldout_bytes", "bgpt"] and [r[0] for r in rows] == ["csv", "cpu"]


def test_cpu_experiment_is_deterministic_and_scores_states():
    kw = {"config": TINY, "batch_size": 4, "heldout": 5, "eval_every": 3}
    a, b = B.cpu_experiment((10, 20), 3, 0, **kw), B.cpu_experiment((20, 10), 3, 0, **kw)
    assert a.final() == [{**x, "seconds": y["seconds"]} for x, y in zip(b.final(), a.final())]
    assert [p.n_programs for p in a.points] == [10, 20] and a.complete
    for p in a.points:
        assert 0 <= p.accuracy[-1] <= 1 and 0 <= p.state_accuracy[-1] <= p.accuracy[-1] and p.bpb[-1] > 0
    assert len(a.example["states"]) == 8 and len(a.example["predicted"]) == 8
    assert a.baselines == D.rule_baselines(D.cpu_sets(0, 5, 0, D.ToyCPU())[1])
    json.dumps(a.to_dict())


def test_cpu_scores_by_hand(net):
    traces = D.cpu_sets(0, 3, seed=0)[1]
    s = B.cpu_scores(net, traces)
    logps = B.byte_logprobs(net, traces)
    right = sum(int(lp[t, :256].argmax() == f[t]) for lp, f in zip(logps, traces) for t in range(48, len(f)))
    assert s["accuracy"] == pytest.approx(right / (3 * 128))


def test_analysis_and_generation():
    run = _tiny_run(0)
    model = B.trained_model(run.key)
    data = D.csv_file(random.Random(9))
    a = B.analyze_bytes(data, model)
    assert a.n_bytes == len(data) and len(a.surprisal) == len(data) and a.model == run.name
    assert a.bpb == pytest.approx(float(np.mean(a.surprisal)))
    assert a.surprisal[0] == pytest.approx(-math.log2(a.prob[0]))
    g1 = B.generate_bytes(data[:100], 12, model=model, greedy=False, seed=4)
    assert g1 == B.generate_bytes(data[:100], 12, model=model, greedy=False, seed=4) and len(g1) == 12
    greedy = B.generate_bytes(data[:100], 3, model=model)
    with torch.no_grad():
        assert greedy[0] == int(B._next_logits(model.net, data[:100])[:256].argmax())


def test_long_files_are_scored_in_context_windows():
    model = B.TrainedByteModel("tiny", B.build_net(B.ByteConfig(32, 1, 1, 2, max_patches=4)), B.ByteConfig(
        32, 1, 1, 2, max_patches=4), "")
    data = bytes(range(256)) * 2 + b"xyz"  # 515 bytes, windows of 64
    a = B.analyze_bytes(data, model)
    assert a.window_bytes == 64 and a.n_bytes == 515
    np.testing.assert_allclose(a.surprisal[64:128], a.surprisal[320:384], rtol=1e-5)  # same bytes, same window place
    assert len(B.generate_bytes(data, 5, model=model)) == 5  # beyond the context: the last whole patches are kept


@pytest.mark.parametrize("call, message", [
    (lambda: D.check_mixture(["text", "mp3"]), r"Unknown file type\(s\) \['mp3'\]"),
    (lambda: D.check_mixture([]), "none given"),
    (lambda: B.cpu_experiment((5,), 2), "between 10 and"),
    (lambda: B.cpu_experiment(("lots",), 2), "whole numbers of programs"),
    (lambda: B.train_byte_model(0), "Steps must be between 1"),
    (lambda: B.train_byte_model(2, config=B.ByteConfig(hidden=30, heads=4)), "multiple of the heads"),
    (lambda: B.check_bytes(b""), "empty"),
    (lambda: B.check_bytes(b"x" * 9000), "9,000 bytes; the limit is 8,192"),
    (lambda: B.check_bytes(3), "Give bytes or text"),
])
def test_bad_input_messages(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_no_trained_model_message(monkeypatch):
    from backends.cache import Memo

    monkeypatch.setattr(B, "_LAST", [])
    monkeypatch.setattr(B, "_MODELS", Memo(size=4))
    with pytest.raises(InputError, match="No byte model has been trained yet"):
        B.trained_model("nope", train_if_none=False)


def test_upload_checks(tmp_path):
    good = tmp_path / "a.csv"
    good.write_bytes(b"x,y\n1,2\n")
    assert B.read_byte_upload(good) == b"x,y\n1,2\n"
    exe = tmp_path / "a.exe"
    exe.write_bytes(b"MZ")
    with pytest.raises(InputError, match="nsupported file type .exe"):
        B.read_byte_upload(exe)
    big = tmp_path / "b.txt"
    big.write_bytes(b"a" * 9000)
    with pytest.raises(InputError, match="9,000 bytes; the limit is 8,192"):
        B.read_byte_upload(big)
    empty = tmp_path / "e.txt"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        B.read_byte_upload(empty)
