"""The text generator's pictures for the report: the seeded samples kept with the run."""

import html


def samples_table(samples, sampler, seed):
    """[(title, HTML)] of the prompts and the texts written from them (none without samples)."""
    rows = "".join(
        f"<h3>Prompt: {html.escape(repr(s['prompt']))}</h3><pre>{html.escape(s['text'])}</pre>" for s in samples
    )
    return [(f"Samples ({sampler}, seed {seed})", rows)] if rows else []
