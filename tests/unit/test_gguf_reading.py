"""The fast GGUF reading used during conversion: the same fields and tensors as gguf's own reader, one parse
per file inside the block, and gguf put back afterwards. The converted weights and tokenizer are compared with
the plain transformers path in tests/integration/test_packaged_models.py."""
import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from backends.gguf_reading import fast_gguf_reading, fast_reader_class  # noqa: E402


@pytest.fixture(scope="module")
def small_gguf(tmp_path_factory):
    """A GGUF with every kind of metadata the models carry (strings, string and number arrays, scalars) and
    float and quantised tensors."""
    path = tmp_path_factory.mktemp("gguf") / "small.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_uint32("llama.block_count", 2)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_string("general.name", "small ünïcödé 😀")
    w.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(300)] + ["", "Ġ", "é"])
    w.add_array("tokenizer.ggml.scores", [float(i) / 7 for i in range(303)])
    w.add_array("tokenizer.ggml.token_type", [1] * 303)
    rng = np.random.default_rng(0)
    w.add_tensor("token_embd.weight", rng.normal(size=(8, 32)).astype(np.float32))
    q8 = gguf.quants.quantize(rng.normal(size=(4, 64)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", q8, raw_shape=q8.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_fast_reader_reads_what_ggufs_reader_reads(small_gguf):
    slow, fast = gguf.GGUFReader(small_gguf), fast_reader_class()(small_gguf)
    assert list(slow.fields) == list(fast.fields) and "tokenizer.ggml.tokens" in fast.fields
    for key, a in slow.fields.items():
        b = fast.fields[key]
        assert (a.offset, a.data, a.types) == (b.offset, b.data, b.types), key
        assert len(a.parts) == len(b.parts), key
        for x, y in zip(a.parts, b.parts):
            assert x.dtype == y.dtype and np.array_equal(x, y), key
    assert [t.name for t in slow.tensors] == [t.name for t in fast.tensors]
    for a, b in zip(slow.tensors, fast.tensors):
        assert a.tensor_type == b.tensor_type and np.array_equal(a.data, b.data)
        assert np.array_equal(gguf.dequantize(a.data, a.tensor_type), gguf.dequantize(b.data, b.tensor_type))


def test_inside_the_block_a_file_is_parsed_once_and_gguf_is_restored(small_gguf, monkeypatch):
    original_reader, original_map = gguf.GGUFReader, gguf.get_tensor_name_map
    built = []
    cls = fast_reader_class()

    def counting_init(self, *args):
        built.append(args)
        original_reader.__init__(self, *args)

    monkeypatch.setattr(cls, "__init__", counting_init)
    with fast_gguf_reading():
        first, second = gguf.GGUFReader(small_gguf), gguf.GGUFReader(str(small_gguf))
        assert first is second and len(built) == 1 and "tokenizer.ggml.tokens" in first.fields
        table = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2) is table
        assert table.get_name("model.layers.0.self_attn.q_proj") == "blk.0.attn_q"
    assert gguf.GGUFReader is original_reader and gguf.get_tensor_name_map is original_map
    assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2) is not table


def test_gguf_is_restored_when_the_conversion_fails(small_gguf):
    original = gguf.GGUFReader
    with pytest.raises(RuntimeError), fast_gguf_reading():
        raise RuntimeError("conversion failed")
    assert gguf.GGUFReader is original


def test_parse_value_converts_every_field_as_transformers_does(small_gguf):
    from transformers.integrations.ggml import _gguf_parse_value

    from backends.gguf_reading import parse_value

    reader = fast_reader_class()(small_gguf)
    seen = set()
    for key, field in reader.fields.items():
        for i in field.data:
            ours, theirs = parse_value(field.parts[i], field.types), _gguf_parse_value(field.parts[i], field.types)
            assert type(ours) is type(theirs) and ours == theirs, key
            seen.add(type(ours).__name__)
    assert {"int", "float", "bool", "str"} <= seen


def test_metadata_is_parsed_once_per_file_and_each_caller_gets_its_own_copy(small_gguf, monkeypatch):
    from transformers import modeling_gguf_pytorch_utils as hf_gguf

    calls = []

    def counting(path, return_tensors=False, model_to_load=None, torch_dtype=None):
        calls.append(return_tensors)
        return {"config": {"model_type": "llama", "layers": [1, 2]}, "tensors": {} if return_tensors else None}

    monkeypatch.setattr(hf_gguf, "load_gguf_checkpoint", counting)
    with fast_gguf_reading():
        a = hf_gguf.load_gguf_checkpoint(small_gguf, return_tensors=False)
        a["config"]["layers"].append(3)  # a caller that changes what it got
        b = hf_gguf.load_gguf_checkpoint(str(small_gguf))
        assert b["config"]["layers"] == [1, 2] and calls == [False]
        assert hf_gguf.load_gguf_checkpoint(small_gguf, return_tensors=True)["tensors"] == {}
        assert calls == [False, True]  # the weights' call is never served from the memo
    assert hf_gguf.load_gguf_checkpoint is counting
