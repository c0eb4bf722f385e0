"""Stateless samplers: a score or noise-prediction function and a schedule in, samples out.

annealed_langevin   Song & Ermon 2019, Algorithm 1 (+ the denoising step of Jolicoeur-Martineau et al. 2021)
ancestral_sample    Ho et al. 2020, Algorithm 2
ddim_sample         Song, Meng & Ermon 2021, eq. 12 (η, a step count, uniform or quadratic spacing)
NoiseSchedule       the frozen β schedule and its constants, which the diffusion samplers share

Each takes an optional torch.Generator and can return the whole trajectory.
"""

from latentlab.sampling.ddim import ddim_sample, ddim_sigma, ddim_timesteps
from latentlab.sampling.ddpm import ancestral_sample
from latentlab.sampling.langevin import annealed_langevin
from latentlab.sampling.schedule import NoiseSchedule, beta_schedule

__all__ = ["NoiseSchedule", "ancestral_sample", "annealed_langevin", "beta_schedule", "ddim_sample", "ddim_sigma",
           "ddim_timesteps"]
