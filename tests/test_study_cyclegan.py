"""The cyclegan study at the quick budget: it trains, scores the translations beside their references
and beside two trivial translators with a classifier trained here (not Inception) and a colour-blind one,
and writes its page (skipped without apple2orange)."""

import json

from latentlab.evaluation.inception_distances import inception_network


def test_quick_study_scores_translations_beside_their_references(quick_study):
    out = quick_study("cyclegan")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_test"] == [16, 16] and summary["resolution"] == 16
    assert "not Inception" in summary["features"] and len(summary["classifier"]["sha256"]) == 64
    q = summary["sections"]
    assert set(q) == {"X_to_Y", "Y_to_X", "untranslated", "real_X", "real_Y", "identity_X_to_Y", "identity_Y_to_X",
                      "colour_transfer_X_to_Y", "colour_transfer_Y_to_X"}
    for direction in ("X_to_Y", "Y_to_X"):
        assert 0.0 <= q[direction]["success"] <= 100.0 and q[direction]["cycle_l1"] > 0.0
        assert 0.0 <= q[direction]["success_grey"] <= 100.0
    assert [c["name"].split(":")[0] for c in summary["checks"]][:2] == ["translation success ≥ 80 %"] * 2
    assert len(summary["checks"]) == 4
    # the trivial translators: the identity's success is the judges' error on the untranslated apples
    assert q["identity_X_to_Y"]["success"] == q["untranslated"]["X_as_Y"]
    assert q["identity_X_to_Y"]["success_grey"] == q["untranslated"]["X_as_Y_grey"]
    checks = summary["translator_checks"]
    assert set(checks) == {"trained", "identity", "colour_transfer"} and all(len(c) == 6 for c in checks.values())
    assert checks["trained"][:4] == summary["checks"]
    grey = summary["greyscale_classifier"]
    assert "grey" in grey["name"] and grey["sha256"] != summary["classifier"]["sha256"]
    # Inception FID/KID where the standard weights are on this machine, else the one line that says they are not
    network, line = inception_network()
    assert summary["inception"] == line or (network is not None and "Inception-v3" in summary["inception"])
    assert all(("inception_fid" in values) == (network is not None) for values in q.values())
    page = (out / "report.html").read_text()
    assert "colour transfer" in page and "colour-blind" in page and summary["inception"].split(":")[0] in page
    assert (out / "report.html").stat().st_size > 0
    assert (out / "runs" / "cyclegan" / "figures" / "translations.png").exists()
