"""CoT path explorer tab (placeholder until issue #4 lands)."""
from tabs.common import placeholder

TITLE = "CoT path explorer"


def build() -> None:
    placeholder(TITLE, 4, "Chain-of-thought decoding without prompting: branch on the top-k first tokens, decode each path greedily and rank paths by the model's confidence in the answer.")
