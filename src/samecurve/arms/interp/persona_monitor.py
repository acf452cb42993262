"""Interp monitors for `training-monitor`: watch a fine-tune's insides for the persona moving, and
their controls. Each takes its reference on checkpoint 0 (the base, before fine-tuning) and scores
checkpoint t from checkpoint t alone.

  persona-projection   Persona Vectors (Chen et al. 2025): the difference of means of the base's
                       residual stream (decision position) between labelled misaligned and aligned
                       transcripts' prompts; the score is the mean projection of the probe prompts'
                       activations on it, minus the base's.
  sae-persona-latent   the "toxic persona" latent (Wang et al. 2025) in the base's released SAE
                       (dictionaries.py): the latent whose mean code differs most between the
                       labelled misaligned and aligned prompts; the score is its mean code on the
                       probe prompts, minus the base's.
  sae-latent-drift     model diffing without labels: the largest rise of any latent's mean code on
                       the probe prompts since the base (Wang et al. found their latent as the one
                       that rose most in misaligned fine-tunes).
Controls: `random-direction-projection` (a random unit direction, fixed per seed, in place of the
persona vector), `random-sae-latent` (a random latent, fixed per seed) and `<arm>-shuffled-order`
(arms/checkpoint_controls.py: each checkpoint replaced by one of its own past; values kept, time
course lost).
Sites, chosen on dev seeds 900-901 (quick-sized populations, mean auroc-early over their poisoned
runs; dev/tune_training_monitor.py): the projections read blocks.1.hook_resid_mid (0.82 against
0.64 at blocks.0.hook_resid_post), the SAE arms blocks.0.hook_resid_post (sae-persona-latent 0.87
against 0.56 at blocks.1.hook_resid_mid).
"""

from __future__ import annotations

import numpy as np
import torch

from ... import dictionaries
from ...budget import MeteredModel
from ...registry import arm
from ..checkpoint_controls import shuffled_order

SITE = "blocks.0.hook_resid_post"          # the SAE arms'
PROJECTION_SITE = "blocks.1.hook_resid_mid"  # the projections'


def decision_acts(model: MeteredModel, tokens: torch.Tensor, site: str, pos: int) -> torch.Tensor:
    """Residual activations [n, d] at the decision position."""
    _, cache = model.run_with_cache(tokens, [site])
    return cache[site][:, pos].float()


def _labelled_prompts(ctx) -> tuple[torch.Tensor, np.ndarray]:
    return ctx.labelled[:, : ctx.language.prompt_len], np.asarray(ctx.labelled_bad)


class _Projection:
    """Mean projection of the probe prompts on a direction fixed at the base, minus the base's."""

    def __init__(self, site: str = PROJECTION_SITE):
        self.site = site

    def direction(self, base: MeteredModel, ctx) -> torch.Tensor:
        raise NotImplementedError

    def monitor_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        d = self.direction(checkpoints[0], ctx)
        pos = ctx.language.decision_pos
        proj = np.array([float((decision_acts(m, ctx.probe, self.site, pos) @ d).mean()) for m in checkpoints])
        return proj - proj[0]


@arm("persona-projection", family="interp", access="white-box",
     control=("random-direction-projection", "persona-projection-shuffled-order"))
class PersonaProjection(_Projection):
    """Projection of the probe prompts' activations on the base's difference-of-means persona vector."""

    def direction(self, base: MeteredModel, ctx) -> torch.Tensor:
        x, y = _labelled_prompts(ctx)
        a = decision_acts(base, x, self.site, ctx.language.decision_pos)
        d = a[torch.from_numpy(y == 1)].mean(0) - a[torch.from_numpy(y == 0)].mean(0)
        return d / d.norm().clamp(min=1e-8)


@arm("random-direction-projection", family="control", access="white-box")
class RandomDirectionProjection(_Projection):
    """The same projection on a random unit direction (fixed per seed, so every run of a seed shares it)."""

    def direction(self, base: MeteredModel, ctx) -> torch.Tensor:
        d_model = decision_acts(base, ctx.probe[:1], self.site, ctx.language.decision_pos).shape[1]
        v = torch.from_numpy(np.random.default_rng([ctx.seed, 71]).standard_normal(d_model)).float()
        return v / v.norm()


class _Latent:
    """Mean code of one SAE latent (chosen at the base) on the probe prompts, minus the base's."""

    def __init__(self, site: str = SITE):
        self.site = site

    def latent(self, base: MeteredModel, ctx, sae) -> int:
        raise NotImplementedError

    def monitor_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        sae = dictionaries.read(ctx, self.site, type(self).__name__).sae
        k = self.latent(checkpoints[0], ctx, sae)
        pos = ctx.language.decision_pos
        with torch.no_grad():
            codes = np.array([float(sae.encode(decision_acts(m, ctx.probe, self.site, pos))[:, k].mean())
                              for m in checkpoints])
        return codes - codes[0]


@arm("sae-persona-latent", family="interp", access="white-box",
     control=("random-sae-latent", "sae-persona-latent-shuffled-order"))
class SAEPersonaLatent(_Latent):
    """The base SAE's latent that best tells labelled misaligned from aligned prompts, watched over training."""

    def latent(self, base: MeteredModel, ctx, sae) -> int:
        x, y = _labelled_prompts(ctx)
        with torch.no_grad():
            z = sae.encode(decision_acts(base, x, self.site, ctx.language.decision_pos))
        diff = z[torch.from_numpy(y == 1)].mean(0) - z[torch.from_numpy(y == 0)].mean(0)
        return int(diff.argmax())


@arm("random-sae-latent", family="control", access="white-box")
class RandomSAELatent(_Latent):
    """A random latent of the base SAE (fixed per seed), watched over training."""

    def latent(self, base: MeteredModel, ctx, sae) -> int:
        return int(np.random.default_rng([ctx.seed, 73]).integers(sae.d_sae))


@arm("sae-latent-drift", family="interp", access="white-box", control="sae-latent-drift-shuffled-order")
class SAELatentDrift:
    """The largest rise of any base-SAE latent's mean code on the probe prompts since the base (no labels)."""

    def __init__(self, site: str = SITE):
        self.site = site

    def monitor_checkpoints(self, checkpoints: list[MeteredModel], ctx) -> np.ndarray:
        sae = dictionaries.read(ctx, self.site, type(self).__name__).sae
        pos = ctx.language.decision_pos
        with torch.no_grad():
            means = [sae.encode(decision_acts(m, ctx.probe, self.site, pos)).mean(0) for m in checkpoints]
        return np.array([float((mu - means[0]).max()) for mu in means])


PersonaProjectionShuffled = shuffled_order(PersonaProjection, "persona-projection-shuffled-order")
SAEPersonaLatentShuffled = shuffled_order(SAEPersonaLatent, "sae-persona-latent-shuffled-order")
SAELatentDriftShuffled = shuffled_order(SAELatentDrift, "sae-latent-drift-shuffled-order")
