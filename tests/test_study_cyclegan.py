"""The cyclegan study at the quick budget: it trains, scores the translations beside their references
with a classifier trained here (not Inception), and writes its page (skipped without apple2orange)."""

import json


def test_quick_study_scores_translations_beside_their_references(quick_study):
    out = quick_study("cyclegan")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_test"] == [16, 16] and summary["resolution"] == 16
    assert "not Inception" in summary["features"] and len(summary["classifier"]["sha256"]) == 64
    q = summary["sections"]
    assert set(q) == {"X_to_Y", "Y_to_X", "untranslated", "real_X", "real_Y"}
    for direction in ("X_to_Y", "Y_to_X"):
        assert 0.0 <= q[direction]["success"] <= 100.0 and q[direction]["cycle_l1"] > 0.0
    assert [c["name"].split(":")[0] for c in summary["checks"]][:2] == ["translation success ≥ 80 %"] * 2
    assert len(summary["checks"]) == 4
    assert (out / "report.html").stat().st_size > 0
    assert (out / "runs" / "cyclegan" / "figures" / "translations.png").exists()
