"""Early exit on both packaged models: the lens is exact at the top, speculation is lossless."""
import pytest

from backends import early_exit as EE

pytestmark = pytest.mark.integration
PROMPT = "The history of the United States begins"
TOKENS = 16  # enough for drafts to be rejected and the cache rolled back at every exit below


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma3-270m"])
def test_last_layer_lens_equals_the_model_output(registry, name):
    assert EE.lens_matches_model("The capital of France is Paris. The capital of Italy is", name) < 1e-5
    lens = EE.logit_lens("The capital of France is Paris. The capital of Italy is", name)
    assert lens.n_layers == registry.get(name).model.config.get_text_config().num_hidden_layers
    assert all(0 <= e <= lens.n_layers for e in lens.exit_layer) and 0 < lens.mean_exit_layer <= lens.n_layers
    assert lens.top_tokens[-1][-1][0].strip() == "Rome"


@pytest.mark.parametrize("name,settings", [
    ("smollm2-135m-instruct", [(4, 2), (12, 4), (24, 3)]),
    ("gemma3-270m", [(3, 2), (9, 4), (15, 3)]),
])
def test_self_speculative_output_equals_greedy_token_for_token(registry, name, settings):
    lm = registry.get(name)
    ids = lm.tokenizer(PROMPT)["input_ids"]
    import torch

    with torch.no_grad():
        hf = lm.model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               do_sample=False, temperature=None, top_p=None, top_k=None, max_new_tokens=TOKENS,
                               pad_token_id=lm.tokenizer.pad_token_id)
    reference = hf[0, len(ids):].tolist()
    for (e, d), adaptive in zip(settings, (False, True, True)):  # the paper's fixed schedule, then ours
        r = EE.self_speculative(PROMPT, name, exit_layer=e, num_speculations=d, max_new_tokens=TOKENS,
                                adaptive=adaptive)
        # The shared layers' KV cache is reused between draft and verify, and the output is still exact.
        assert r.token_ids == reference[: len(r.token_ids)] and len(r.token_ids) == len(reference), (e, d)
        assert r.identical and r.drafted >= r.accepted
        assert adaptive or r.plain_steps == 0
