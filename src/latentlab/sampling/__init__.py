"""Stateless samplers: a score or noise-prediction function and a schedule in, samples out.

annealed_langevin   Song & Ermon 2019, Algorithm 1 (+ the denoising step of Jolicoeur-Martineau et al. 2021)
ancestral_sample    Ho et al. 2020, Algorithm 2

Each takes an optional torch.Generator and can return the whole trajectory.
"""

from latentlab.sampling.ddpm import ancestral_sample
from latentlab.sampling.langevin import annealed_langevin

__all__ = ["ancestral_sample", "annealed_langevin"]
