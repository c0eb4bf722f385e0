"""Report pages in a real headless browser (Debian's chromium through selenium): the latent-space
explorer decodes exactly what PyTorch decodes, every control moves z the way it says, the pages make no
network request, and each kind of page is kept as a screenshot in test-artifacts/report-screenshots/.

Tiny runs: VAEs and a CVAE trained 150 steps on 3,000 MNIST digits (random blobs where MNIST is
missing), a mixture prior fitted on one of the VAEs, a GAN for a page without explorer, and untrained
decoders of every kind on one page."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import real_data_root
from decoder_zoo import ZOO, fake_run, zoo_model

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "report-screenshots"
INSTALL = "`apt-get install chromium chromium-driver`, which `make test` does when it can"


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: `pip install -e '.[test]'`"
    if not (shutil.which("chromium") or Path("/usr/bin/chromium").exists()):
        return f"chromium is not installed: {INSTALL}"
    if not (shutil.which("chromedriver") or Path("/usr/bin/chromedriver").exists()):
        return f"chromium-driver is not installed: {INSTALL}"
    return None


MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
TRAIN = ["train.iterations=150", "train.batch_size=64", "train.log_every=25", "train.checkpoint_every=150",
         "eval.protocol=test", "eval.iwae_k=[1]", "eval.iwae_repeats=[1]", "data.binarize=none"]


# ----------------------------------------------------------------------------- the browser and the runs


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions",  # offline: a page that needs the network breaks
                           {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def digits():
    """3,000 training and 400 test images (1, 28, 28) with labels: MNIST's first, else label-placed blobs."""
    root = real_data_root()
    if root is not None:
        from latentlab.data.datasets import load_images

        d = load_images("mnist", root, download=False)
        return {"x": d.train_x[:3000], "y": d.train_y[:3000], "x_test": d.test_x[:400], "y_test": d.test_y[:400]}
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (3400,), generator=g)
    angle = y * (2 * torch.pi / 10)
    r, c = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    blob = torch.exp(-((r - 14 - 8 * angle.sin()[:, None, None]) ** 2 + (c - 14 - 8 * angle.cos()[:, None, None]) ** 2) / 18)
    x = (blob + 0.1 * torch.rand(3400, 28, 28, generator=g)).clamp(0, 1)[:, None]
    return {"x": x[:3000], "y": y[:3000], "x_test": x[3000:], "y_test": y[3000:]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits):
    """name -> run directory, each trained and evaluated (explorer.json and report.html) once per module."""
    import latentlab.api as api

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root, made = tmp_path_factory.mktemp("runs"), {}

    def get(name: str) -> Path:
        if name not in made:
            preset, extra = {"vae_z2": ("cs236_vae", ["model.z_dim=2"]),
                             "vae_z6": ("cs236_vae", ["model.z_dim=6"]),
                             "cvae": ("cs236_cvae_mnist", ["model.z_dim=3"]),
                             "gan": ("gan_mnist", ["train.iterations=10", "eval.protocol=none"])}[name]
            made[name] = api.train(preset, data=digits, out=root / name, quiet=True, overrides=[*TRAIN, *extra])
        return made[name]

    yield get
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- page helpers


def open_page(driver, path: Path) -> str:
    """Load a page from file://, check it fetched nothing and points nowhere outside; returns its HTML."""
    driver.get_log("performance")  # drop earlier entries
    driver.get(path.resolve().as_uri())
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html)
    links = driver.execute_script("return [...document.querySelectorAll('[src],[href]')]"
                                  ".map(e => e.getAttribute('src') || e.getAttribute('href'))")
    assert not [u for u in links if re.match(r"(https?:)?//", u)]
    urls = [m["params"]["request"]["url"] for m in (json.loads(e["message"])["message"]
                                                    for e in driver.get_log("performance"))
            if m["method"] == "Network.requestWillBeSent"]
    assert urls and all(u.startswith(("file:", "data:")) for u in urls), [u[:80] for u in urls]
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    print(f"\n{path.parent.name}/{path.name}: {path.stat().st_size / 1e6:.2f} MB")
    return html


def last(driver, run: str = "run-1") -> dict:
    return driver.execute_script(f"return window.latentlabExplorer['{run}'].last")


def input_value(driver, element, value) -> None:
    """Set a slider (or select) the way a user's drag leaves it, and fire its input event."""
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('input', {bubbles: true}))", element, str(value))


def torch_decode(model, z, y=None) -> np.ndarray:
    z = torch.tensor([z], dtype=torch.float32)
    with torch.no_grad():
        x = model.decode(z) if y is None else model.decode_given_y(z, torch.tensor([y]))
    return x.flatten().double().numpy()


def assert_decodes_like_torch(model, state: dict) -> None:
    expected = torch_decode(model, state["z"], state["y"])
    assert np.abs(np.array(state["x"]) - expected).max() < 1e-5


def screenshot(driver, name: str, element=None) -> Path:
    """The element (default: the whole page, however long) as SHOTS/<name>.png."""
    path = SHOTS / f"{name}.png"
    if element is not None:
        driver.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(str(path))
        return path
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, min(height + 120, 16000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1200, 900)
    return path


def model_of(run: Path):
    from latentlab.run import Run

    return Run(run).load_model("cpu")


def explorer(driver):
    return driver.find_element("css selector", "#run-1-explorer")


# ----------------------------------------------------------------------------- the tests


def test_the_latent_plane_decodes_where_the_pointer_is(browser, runs):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    run = runs("vae_z2")
    open_page(browser, run / "report.html")
    model = model_of(run)
    start = last(browser)
    np.testing.assert_allclose(start["z"], json.loads((run / "explorer.json").read_text())["latent"]["mean"], atol=1e-6)
    plane = browser.find_element("css selector", ".xp-plane")
    browser.execute_script("arguments[0].scrollIntoView()", plane)
    states = []
    for dx, dy in ((-60, 50), (70, -40)):  # from the canvas centre: lower left, then upper right
        ActionChains(browser).move_to_element_with_offset(plane, dx, dy).perform()
        WebDriverWait(browser, 5).until(lambda d: last(d)["z"] != (states[-1] if states else start)["z"])
        states.append(last(browser))
    a, b = states
    assert b["z"][0] > a["z"][0] and b["z"][1] > a["z"][1]  # right is +z1, up is +z2
    assert all(-3 <= v <= 3 for v in a["z"] + b["z"])
    assert np.abs(np.array(a["x"]) - np.array(b["x"])).max() > 1e-3
    for state in states:
        assert_decodes_like_torch(model, state)
    pixels = browser.execute_script(  # what the canvas shows: the output, clipped and rounded to bytes
        "const c = document.querySelector('#run-1-explorer .xp-out');"
        "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 == 0))")
    assert pixels == [round(min(1, max(0, v)) * 255) for v in b["x"]]
    screenshot(browser, "vae-z2-explorer", explorer(browser))
    screenshot(browser, "vae-z2-page")


def test_sliders_and_interpolation_decode_like_torch(browser, runs):
    run = runs("vae_z6")
    open_page(browser, run / "report.html")
    model, data = model_of(run), json.loads((run / "explorer.json").read_text())
    mean = np.array(data["latent"]["mean"])

    dim = browser.find_elements("css selector", ".xp-dim")[3]
    input_value(browser, dim, 1.5)
    state = last(browser)
    expected_z = mean.copy()
    expected_z[3] = float(dim.get_attribute("value"))  # 1.5 on the slider's step grid
    np.testing.assert_allclose(state["z"], expected_z, atol=1e-6)
    assert abs(state["z"][3] - 1.5) < 0.01
    assert_decodes_like_torch(model, state)

    browser.find_element("css selector", ".xp-reset").click()
    pc = browser.find_element("css selector", ".xp-pc[data-k='0']")
    input_value(browser, pc, 2)
    state = last(browser)  # z = mean + 2 s_1 v_1
    np.testing.assert_allclose(state["z"], mean + 2 * data["latent"]["direction_std"][0]
                               * np.array(data["latent"]["directions"][0]), atol=1e-5)
    assert_decodes_like_torch(model, state)

    pick = browser.find_elements("css selector", ".xp-pick")
    pick[0].find_elements("css selector", "label")[3].click()  # a = example 3, b = example 5
    pick[1].find_elements("css selector", "label")[5].click()
    t = browser.find_element("css selector", ".xp-t")
    z_a, z_b = (np.array(data["examples"][i]["z"]) for i in (3, 5))
    for value, z in ((0, z_a), (1, z_b), (0.25, 0.75 * z_a + 0.25 * z_b)):
        input_value(browser, t, value)
        state = last(browser)
        np.testing.assert_allclose(state["z"], z, atol=1e-6)
        assert_decodes_like_torch(model, state)
    input_value(browser, t, 0)
    np.testing.assert_array_equal(last(browser)["x"], browser.execute_script(  # t = 0 is image a's code decoded
        "return window.latentlabExplorer['run-1'].decode(arguments[0], null)", data["examples"][3]["z"]))
    screenshot(browser, "vae-z6-explorer", explorer(browser))


def test_the_label_selector_keeps_z_and_changes_y(browser, runs):
    from selenium.webdriver.support.ui import Select

    run = runs("cvae")
    open_page(browser, run / "report.html")
    model = model_of(run)
    input_value(browser, browser.find_elements("css selector", ".xp-dim")[0], -1.2)
    before = last(browser)
    assert before["y"] == 0
    assert_decodes_like_torch(model, before)
    Select(browser.find_element("css selector", ".xp-label")).select_by_value("7")
    after = last(browser)
    assert after["y"] == 7 and after["z"] == before["z"]
    assert_decodes_like_torch(model, after)
    assert np.abs(np.array(after["x"]) - np.array(before["x"])).max() > 1e-3
    screenshot(browser, "cvae-explorer", explorer(browser))


def mixture_prior(parent, components: int, out):
    """The run directory of a mixture prior with `components` components fitted on `parent` with one thread."""
    import latentlab.api as api

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return api.prior(parent, kind="gmm", overrides=[f"model.components={components}"], out=out, quiet=True).path
    finally:
        torch.set_num_threads(threads)


def test_draw_from_this_prior_moves_the_sliders_to_a_prior_draw(browser, runs, tmp_path):
    """The report of a mixture prior fitted on the z = 6 VAE: each click on "draw from this prior" sets z to the
    next of the codes z ~ p(z) stored in the page (explorer.json's prior_draws), moves the sliders there and
    decodes it as PyTorch does through the parent's decoder."""
    from latentlab.evaluation.decoder_layers import decode_floats

    run = mixture_prior(runs("vae_z6"), 3, tmp_path / "gmm")
    open_page(browser, run / "report.html")
    model, data = model_of(run), json.loads((run / "explorer.json").read_text())
    draws = decode_floats(data["prior_draws"]["z"], (data["prior_draws"]["n"], data["z_dim"]))
    start = last(browser)
    button = browser.find_element("css selector", ".xp-draw")
    assert "draw from this prior (gmm)" in button.text
    sliders = browser.find_elements("css selector", ".xp-dim")
    assert len(sliders) == data["z_dim"] == 6
    for i in range(2):
        button.click()
        state = last(browser)
        np.testing.assert_allclose(state["z"], draws[i], atol=1e-6)  # the page's i-th draw z ~ p(z)
        for el in sliders:
            value, step = float(el.get_attribute("value")), float(el.get_attribute("step"))
            assert abs(value - draws[i][int(el.get_attribute("data-i"))]) <= step  # the slider sits at z_i
        assert_decodes_like_torch(model, state)
        assert_decodes_like_torch(model.parent, state)  # the parent's decoder itself
        assert np.abs(np.array(state["x"]) - np.array(start["x"])).max() > 1e-3  # the image changed
        assert browser.find_element("css selector", ".xp-drawn").text == f"draw {i + 1} of {len(draws)}"
        start = state
    screenshot(browser, "vae-z6-gmm-prior-explorer", explorer(browser))


def test_a_prior_per_label_draws_with_its_label(browser, runs, tmp_path):
    """A mixture per label fitted on the CVAE: a click sets z and the label y of the page's next draw
    z ~ p(z|y), the label selector follows, and the page decodes E[x|y, z] as PyTorch does."""
    from latentlab.evaluation.decoder_layers import decode_floats

    run = mixture_prior(runs("cvae"), 2, tmp_path / "gmm")
    open_page(browser, run / "report.html")
    model, data = model_of(run), json.loads((run / "explorer.json").read_text())
    draws = data["prior_draws"]
    z = decode_floats(draws["z"], (draws["n"], data["z_dim"]))
    for i in range(3):  # labels 0, 1, 2 in turn
        browser.find_element("css selector", ".xp-draw").click()
        state = last(browser)
        np.testing.assert_allclose(state["z"], z[i], atol=1e-6)
        assert state["y"] == draws["y"][i] == i
        assert browser.find_element("css selector", ".xp-label").get_attribute("value") == str(i)
        assert_decodes_like_torch(model, state)
    screenshot(browser, "cvae-gmm-prior-explorer", explorer(browser))


def test_every_decoder_kind_on_one_comparison_page(browser, tmp_path):
    """Untrained decoders (conv with a crop, RGB, P-PCA, a table, GMVAE, SSVAE, ...) side by side: each
    run's explorer decodes like PyTorch at random z, and several explorers live on one page."""
    names = list(ZOO)
    models = {name: zoo_model(name) for name in names}
    from latentlab.reporting import write_report

    page = write_report([fake_run(tmp_path, n, *models[n]) for n in names], tmp_path / "zoo.html")
    open_page(browser, page)
    g = torch.Generator().manual_seed(0)
    for i, name in enumerate(names, start=1):
        model, _ = models[name]
        z_dim = browser.execute_script(f"return window.latentlabExplorer['run-{i}'].zDim")
        for _ in range(2):
            z = (2 * torch.randn(z_dim, generator=g)).tolist()
            y = int(torch.randint(0, 10, (), generator=g)) if hasattr(model, "n_classes") else None
            x = browser.execute_script(f"return window.latentlabExplorer['run-{i}'].decode(arguments[0], arguments[1])", z, y)
            assert np.abs(np.array(x) - torch_decode(model, z, y)).max() < 1e-5, name
    screenshot(browser, "decoder-kinds-page")


def test_pages_without_an_explorer_still_render(browser, runs, tmp_path):
    from latentlab.checks import Check
    from latentlab.reporting.study import Section, Table, write_study_report

    run = runs("gan")
    assert not (run / "explorer.json").exists()
    html = open_page(browser, run / "report.html")
    assert "Explore the latent space" not in html and "<script" not in html
    assert browser.execute_script("return typeof window.latentlabExplorer") == "undefined"
    screenshot(browser, "gan-page-without-explorer")

    figure = runs("vae_z2") / "figures" / "latent_manifold.png"
    study = write_study_report(tmp_path / "study" / "report.html", name="demo", title="A study page", budget="quick",
                               intro="A study page keeps its tables, checks and figures, and has no script.",
                               sections=[Section("Numbers", "text", [Table(["model", "nelbo"], [["vae", 101.234]])],
                                                 [("the latent manifold", figure)],
                                                 [Check("nelbo ok", True, 101.2)])])
    html = open_page(browser, study)
    assert "<script" not in html and "This page: " in html
    screenshot(browser, "study-page")
