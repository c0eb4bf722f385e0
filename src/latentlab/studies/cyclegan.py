"""CycleGAN on apple2orange (docs/protocols.md, section E): train the translators, then judge them
without Inception weights.

Trains G: X -> Y (apples to oranges) and F: Y -> X through `latentlab.api.train`, whose evaluation
scores the test images with the translation protocol (evaluation/translation_metrics.py): a domain
classifier trained here gives the share of translations it assigns to the target domain and the
features of FID and KID, each beside the untranslated images and real against real; plus the
cycle and identity errors. A colour-blind judge (the same recipe on greyscale images) gives a second
success, and two trivial translators (the identity and a per-channel colour transfer) are scored
beside the trained one by the same judges and checks; Inception FID and KID are added where the
standard weights are on the machine. The checks the trained translator must pass: translation
success ≥ 80 % both ways, and each direction's FID at most half the untranslated FID. The page
shows the run's numbers, which checks each translator passes, its rows x -> G(x) -> F(G(x)) and
y -> F(y) -> G(F(y)) and the loss curves of both phases.

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
    if "success_grey" in fwd:
        s.log(f"colour-blind success G {fwd['success_grey']:.1f} %, F {bwd['success_grey']:.1f} %")
    protocol = results["protocol"]
    summary = {"run": str(trained.path), "step": results["step"], "resolution": size, "n_test": [n_x, n_y],
               "sections": sections, "checks": checks, "features": protocol["features"],
               "classifier": record, "greyscale_classifier": protocol.get("greyscale_classifier"),
               "translator_checks": results.get("translator_checks"), "inception": protocol.get("inception")}
    return s.finish(summary, title="CycleGAN: apples to oranges and back",
                    sections=_sections(results, checks, figures, n_x, n_y), intro=_intro(config, size))


def scored_images(config, data_dir) -> tuple[int, int]:
    """How many test images of each domain the protocol scored (the first eval.n_test of each, 0: all)."""
    counts = [len(x) for x in prepare(config, data_dir, "cpu").domains("test")]
    return tuple(min(c, config.eval.n_test) if config.eval.n_test else c for c in counts)


def _intro(config, size: int) -> str:
    m = config.model
    return (f"CycleGAN (Zhu et al. 2017) trained {config.train.iterations:,} iterations of batch "
            f"{config.train.batch_size} at {size} px (ResNet generators, ngf {m.ngf}, {m.n_blocks} blocks; "
            f"PatchGAN discriminators; least squares, λ = {m.lambda_cycle:g}, identity {m.lambda_identity:g}·λ). "
            "A small apple-vs-orange classifier trained by latentlab judges it, beside a colour-blind one trained "
            "on greyscale images; their scores compare only runs sharing them. The identity and a colour-statistics "
            "transfer are scored beside it. Inception FID and KID are added only where the standard Inception "
            "weights are on the machine.")


TRANSLATORS = (("", "trained"), ("identity_", "identity"), ("colour_transfer_", "colour transfer"))
DIRECTIONS = (("X_to_Y", "G(x), apples translated", "test oranges"), ("Y_to_X", "F(y), oranges translated", "test apples"))


def _distance_rows(q: dict, prefix: str = "") -> list[list]:
    """The rows of the distance table: each translator both ways, then the references; metric keys prefixed."""
    cols = [f"{prefix}fid", f"{prefix}kid", f"{prefix}kid_sd"]
    rows = []
    for key, images, against in DIRECTIONS:
        rows += [[images, name, against, q[p + key]["success"], q[p + key].get("success_grey", ""),
                  *(q[p + key][c] for c in cols)] for p, name in TRANSLATORS if p + key in q]
    raw = q["untranslated"]
    rows += [["apples, untranslated", "", "test oranges", raw["X_as_Y"], raw.get("X_as_Y_grey", ""),
              *(raw[c] for c in cols)],
             ["half of test apples", "", "the other half", "", "", *(q["real_X"][c] for c in cols)],
             ["half of test oranges", "", "the other half", "", "", *(q["real_Y"][c] for c in cols)]]
    return rows


def _check_table(translator_checks: dict) -> Table:
    """Which checks each translator passes, one row per check (the trivial translators' are reported, not required)."""
    label = {"trained": "trained", "identity": "identity", "colour_transfer": "colour transfer"}
    names = [c["name"] for c in translator_checks["trained"]]
    marks = {t: {c["name"]: "pass" if c["passed"] else "FAIL" for c in cs} for t, cs in translator_checks.items()}
    return Table(["check", *(label.get(t, t) for t in marks)],
                 [[name, *(m.get(name, "") for m in marks.values())] for name in names],
                 caption="the same checks for every translator: the trained one must pass the first four; the "
                         "trivial translators' results and the colour-blind judge's are reported, not required")


def _sections(results: dict, checks: list[Check], figures: Path, n_x: int, n_y: int) -> list[Section]:
    q, protocol = results["sections"], results["protocol"]
    record, grey = protocol["classifier"], protocol.get("greyscale_classifier")
    fwd, bwd = q["X_to_Y"], q["Y_to_X"]
    note = (f"colour judge: {record['name']} (sha256 {record['sha256'][:12]}…, test accuracy "
            f"{record['test_accuracy']:.1f} %)")
    if grey:
        note += (f"; colour-blind judge: {grey['name']} (sha256 {grey['sha256'][:12]}…, test accuracy "
                 f"{grey['test_accuracy']:.1f} %)")
    header = ["images", "translator", "against", "success %", "colour-blind success %"]
    dist = Table([*header, "FID", "KID", "KID sd"], _distance_rows(q),
                 caption=f"{n_x} test apples, {n_y} test oranges; success: the share a judge assigns to the target "
                         "domain (for untranslated apples: the share it calls oranges, its error); the colour-blind "
                         "judge sees only the luminance", note=note)
    tables = [dist]
    if "inception_fid" in fwd:
        tables.append(Table([*header, "Inception FID", "Inception KID", "KID sd"], _distance_rows(q, "inception_"),
                            caption="on Inception-v3's pool features: comparable with published numbers",
                            note=protocol["inception"]))
    cycle = Table(["direction", "cycle ‖·‖₁", "identity ‖·‖₁"],
                  [["x -> G -> F", fwd["cycle_l1"], fwd["identity_l1"]], ["y -> F -> G", bwd["cycle_l1"], bwd["identity_l1"]]],
                  caption="means over pixels in [0, 1]; identity: ‖G(y) − y‖₁ and ‖F(x) − x‖₁")
    tables.append(cycle)
    if results.get("translator_checks"):
        tables.append(_check_table(results["translator_checks"]))
    text = protocol.get("inception", "") if "inception_fid" not in fwd else ""
    if "translator_checks" not in results:
        text = "No trivial translators or colour-blind judge in this results.json: re-run `latentlab eval RUN`."
    return [
        Section("Numbers", text=text, tables=tables, checks=checks),
        Section("Translations", text="Each row: a test apple, G(apple), F(G(apple)); then a test orange, "
                                     "F(orange), G(F(orange)).", figures=[("translations", figures / "translations.png")]),
        Section("Training", figures=[("loss curves per phase", figures / "loss_curves.png")]),
    ]
