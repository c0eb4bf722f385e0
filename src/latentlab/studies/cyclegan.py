"""CycleGAN on apple2orange (docs/protocols.md, section E): train the translators, then judge them
without Inception weights.

Trains G: X -> Y (apples to oranges) and F: Y -> X through `latentlab.api.train`, whose evaluation
scores the test images with the translation protocol (evaluation/translation_metrics.py): a domain
classifier trained here gives the share of translations it assigns to the target domain and the
features of FID and KID, each beside the untranslated images and real against real; plus the
cycle and identity errors. The checks: translation success ≥ 80 % both ways, and each
direction's FID at most half the untranslated FID. The page shows the run's numbers and checks, its
rows x -> G(x) -> F(G(x)) and y -> F(y) -> G(F(y)) and the loss curves of both phases.

Budgets: quick = 2 iterations of a tiny translator at 16 px, scored on 16 test images per domain
with the quick classifier (the tests); standard = `cyclegan_apple2orange_64` (64 px, ngf 16,
8,000 iterations of batch 4: 74 min on a 2-core CPU, measured); full = `cyclegan_apple2orange`, the
paper's recipe at 256 px (GPU work).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentlab.checks import Check
from latentlab.data.handoff import prepare
from latentlab.reporting.study import Section, Table
from latentlab.studies.base import Study, study


@dataclass(frozen=True)
class Budget:
    """The preset and its overrides (the translation protocol's included: eval.classifier, eval.n_test)."""

    preset: str
    overrides: tuple[str, ...] = ()


BUDGETS = {
    "quick": Budget("cyclegan_apple2orange_64",
                    ("train.iterations=2", "train.batch_size=1", "data.image_size=[18, 18]", "data.crop=16",
                     "model.ngf=4", "model.n_blocks=1", "model.ndf=4", "model.n_layers=2", "model.pool_size=2",
                     "train.log_every=1", 'eval.classifier="quick"', "eval.n_test=16")),
    "standard": Budget("cyclegan_apple2orange_64"),
    "full": Budget("cyclegan_apple2orange"),
}


@study("cyclegan", BUDGETS)
def run(s: Study, b: Budget) -> Path:
    """Train (or reuse) the translators, read their translation protocol and write the study page; returns its path."""
    trained = s.run("cyclegan", b.preset, b.overrides)
    config, results = trained.config, trained.results
    sections, record = results["sections"], results["protocol"]["classifier"]
    checks = [Check.from_dict(c) for c in results["checks"]]
    n_x, n_y = scored_images(config, s.data_dir)
    size = results["protocol"]["resolution"]
    figures = trained.figures_dir
    fwd, bwd, raw = sections["X_to_Y"], sections["Y_to_X"], sections["untranslated"]
    s.log(f"success G {fwd['success']:.1f} %, F {bwd['success']:.1f} %; FID G {fwd['fid']:.2f}, F {bwd['fid']:.2f}, "
          f"untranslated {raw['fid']:.2f}; classifier {record['test_accuracy']:.1f} %")
    summary = {"run": str(trained.path), "step": results["step"], "resolution": size, "n_test": [n_x, n_y],
               "sections": sections, "checks": checks, "features": results["protocol"]["features"],
               "classifier": record}
    return s.finish(summary, title="CycleGAN: apples to oranges and back",
                    sections=_sections(sections, checks, record, figures, n_x, n_y), intro=_intro(config, size))


def scored_images(config, data_dir) -> tuple[int, int]:
    """How many test images of each domain the protocol scored (the first eval.n_test of each, 0: all)."""
    counts = [len(x) for x in prepare(config, data_dir, "cpu").domains("test")]
    return tuple(min(c, config.eval.n_test) if config.eval.n_test else c for c in counts)


def _intro(config, size: int) -> str:
    m = config.model
    return (f"CycleGAN (Zhu et al. 2017) trained {config.train.iterations:,} iterations of batch "
            f"{config.train.batch_size} at {size} px (ResNet generators, ngf {m.ngf}, {m.n_blocks} blocks; "
            f"PatchGAN discriminators; least squares, λ = {m.lambda_cycle:g}, identity {m.lambda_identity:g}·λ). "
            "No Inception network scores it: its weights cannot be downloaded here. A small apple-vs-orange "
            "classifier trained by latentlab judges instead; its scores compare only runs sharing it.")


def _sections(q: dict, checks: list[Check], record: dict, figures: Path, n_x: int, n_y: int) -> list[Section]:
    fwd, bwd, raw = q["X_to_Y"], q["Y_to_X"], q["untranslated"]
    dist = Table(["images", "against", "success %", "FID", "KID", "KID sd"], [
        ["G(x), apples translated", "test oranges", fwd["success"], fwd["fid"], fwd["kid"], fwd["kid_sd"]],
        ["F(y), oranges translated", "test apples", bwd["success"], bwd["fid"], bwd["kid"], bwd["kid_sd"]],
        ["apples, untranslated", "test oranges", raw["X_as_Y"], raw["fid"], raw["kid"], raw["kid_sd"]],
        ["half of test apples", "the other half", "", q["real_X"]["fid"], q["real_X"]["kid"], q["real_X"]["kid_sd"]],
        ["half of test oranges", "the other half", "", q["real_Y"]["fid"], q["real_Y"]["kid"], q["real_Y"]["kid_sd"]],
    ], caption=f"{n_x} test apples, {n_y} test oranges; success: the share the classifier assigns to the target "
               "domain (for untranslated apples: the share it calls oranges, its error)",
        note=f"features: {record['name']} (sha256 {record['sha256'][:12]}…, test accuracy "
             f"{record['test_accuracy']:.1f} %)")
    cycle = Table(["direction", "cycle ‖·‖₁", "identity ‖·‖₁"],
                  [["x -> G -> F", fwd["cycle_l1"], fwd["identity_l1"]], ["y -> F -> G", bwd["cycle_l1"], bwd["identity_l1"]]],
                  caption="means over pixels in [0, 1]; identity: ‖G(y) − y‖₁ and ‖F(x) − x‖₁")
    return [
        Section("Numbers", tables=[dist, cycle], checks=checks),
        Section("Translations", text="Each row: a test apple, G(apple), F(G(apple)); then a test orange, "
                                     "F(orange), G(F(orange)).", figures=[("translations", figures / "translations.png")]),
        Section("Training", figures=[("loss curves per phase", figures / "loss_curves.png")]),
    ]
