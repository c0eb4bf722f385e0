"""The export behind the report's latent-space explorer (no browser): the decoder as a layer list that
reproduces the model's decoder, the codes and examples, the refusals, and the page around them."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from decoder_zoo import ZOO, activations_model, fake_run, random_data, zoo_model
import latentlab
from latentlab.evaluation.decoder_layers import KINDS, MAX_PARAMETERS, decode_floats, encode_floats, run_layers
from latentlab.evaluation.explorer import MAX_CODES, N_EXAMPLES, explorer_data, write_explorer
from latentlab.evaluation.figures import MANIFOLD_RANGE
from latentlab.explorer_format import EXPLORER_FORMAT
from latentlab.models.base import ConditionalDecoder
from latentlab.nn import one_hot
from latentlab.registry import build_config, build_model
from latentlab.reporting import write_report
from latentlab.reporting.explorer import explorer_view


def _layer_decode(data: dict, z: torch.Tensor, y: torch.Tensor | None) -> np.ndarray:
    """E[x|z] from explorer.json alone, in NumPy float64 (what the page computes)."""
    h = z.double() if y is None else torch.cat([z, one_hot(y, data["n_classes"], z)], -1).double()
    return run_layers(data["decoder"]["layers"], data["decoder"]["output"], h.numpy())


@pytest.mark.parametrize("name", [*ZOO, "activations"])
def test_the_exported_layers_decode_like_the_model(name, one_thread):
    """Round trip: weights through base64 float32 and back, evaluated in float64, equal the model's float32
    decode (decode_given_y with the label) to 1e-5 at z well outside the codes."""
    model, shape = activations_model() if name == "activations" else zoo_model(name)
    x, y = random_data(shape, n=64)
    data = json.loads(json.dumps(explorer_data(model, x, y)))  # through JSON, as the page gets it
    assert "reason" not in data and data["x_shape"] == list(shape)
    z = 3 * torch.randn(16, data["z_dim"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        if isinstance(model, ConditionalDecoder):
            labels = torch.arange(16) % model.n_classes
            expected = model.decode_given_y(z, labels)
        else:
            labels, expected = None, model.decode(z)
    got = _layer_decode(data, z, labels)
    assert got.shape == (16, int(np.prod(shape)))
    assert np.abs(got - expected.flatten(1).double().numpy()).max() < 1e-5


def test_weights_are_little_endian_float32_base64():
    layer = nn.Linear(3, 2)
    text = encode_floats(layer.weight)
    assert np.array_equal(np.frombuffer(base64.b64decode(text), "<f4").reshape(2, 3), layer.weight.detach().numpy())
    assert np.array_equal(decode_floats(text, (2, 3)), layer.weight.detach().double().numpy())


def test_a_decoder_the_page_cannot_evaluate_gets_a_reason(one_thread):
    big = build_model(build_config({"model": {"name": "vae", "z_dim": 2}}).model, (3, 64, 64))
    x, y = random_data((3, 64, 64), n=8)
    reason = explorer_data(big, x, y)["reason"]
    assert re.fullmatch(r"the decoder has 3\.8 M parameters, more than the 2 M a page embeds", reason), reason
    assert 300 * 3 * 64 * 64 > MAX_PARAMETERS

    model, shape = zoo_model("vae_mlp_z2")
    model.decoder.net[1] = nn.GELU()
    assert explorer_data(model, *random_data(shape, n=8))["reason"] == "GELU layers are not evaluated in the page"

    model, shape = zoo_model("vae_mlp_z2")
    decode = model.decode
    model.decode = lambda z: decode(z) * 0.5  # a decoder that is not just its layers
    assert "do not reproduce VAE's decoder" in explorer_data(model, *random_data(shape, n=8))["reason"]


def test_a_decoder_network_that_is_not_plain_layers_gets_a_reason(one_thread):
    class Opaque(nn.Module):  # a decoder network that does not give its layers
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, z):
            return self.net(z)

    model, shape = zoo_model("vae_mlp_z2")
    model.decoder = Opaque(model.decoder.net)
    assert explorer_data(model, *random_data(shape, n=8))["reason"] == "Opaque layers are not evaluated in the page"


def test_each_layer_kind_is_one_entry_in_python_and_one_case_in_the_page_script():
    script = (Path(latentlab.__file__).parent / "reporting" / "decoder.js").read_text()
    compiled = set(re.findall(r'case "(\w+)"', script.split("function compile")[1].split("\nfunction ")[0]))
    assert compiled == set(KINDS)


def test_writer_and_page_read_one_format_number(tmp_path):
    model, shape = zoo_model("vae_mlp_z2")
    assert explorer_data(model, *random_data(shape, n=8))["format"] == EXPLORER_FORMAT
    run = fake_run(tmp_path, "vae_mlp_z2", model, shape)
    assert explorer_view(run / "explorer.json")["reason"] is None


def test_models_without_a_latent_decoder_get_no_explorer(tmp_path):
    gan = build_model(build_config({"model": {"name": "gan", "net": "mlp"}}).model, (1, 8, 8))
    assert write_explorer(gan, *random_data((1, 8, 8), n=8), tmp_path / "explorer.json") is None
    assert not (tmp_path / "explorer.json").exists()


def test_codes_directions_and_examples(one_thread):
    model, shape = zoo_model("vae_mlp_z2")
    x, y = random_data(shape, n=2500)
    data = explorer_data(model, x, y, seed=3)
    with torch.no_grad():
        codes = model.encode(x)[0].double()
    latent = data["latent"]
    assert latent["source"] == "codes" and latent["n"] == 2500
    np.testing.assert_allclose(latent["mean"], codes.mean(0), atol=1e-6)  # every test code, in another order
    np.testing.assert_allclose(latent["std"], codes.std(0), rtol=1e-5)
    v, s = np.array(latent["directions"]), np.array(latent["direction_std"])
    np.testing.assert_allclose(v @ v.T, np.eye(2), atol=1e-9)  # orthonormal principal directions
    projected = (codes.numpy() - codes.numpy().mean(0)) @ v.T
    np.testing.assert_allclose(projected.std(0, ddof=1), s, rtol=1e-6)  # s_k: the std along v_k
    assert s[0] >= s[1]
    plane = data["plane"]
    assert plane["range"] == list(MANIFOLD_RANGE) and plane["n"] == MAX_CODES == len(plane["y"])
    shown = decode_floats(plane["z"], (MAX_CODES, 2))
    rows = [int(np.abs(codes.numpy() - p).sum(1).argmin()) for p in shown[:20]]
    assert [int(y[r]) for r in rows] == plane["y"][:20]  # each drawn code keeps its own label
    examples = data["examples"]
    assert len(examples) == N_EXAMPLES and [e["label"] for e in examples[:10]] == list(range(10))  # spread over labels
    first = examples[0]
    np.testing.assert_allclose(first["z"], codes[first["index"]], atol=1e-6)
    png = Image.open(io.BytesIO(base64.b64decode(first["png"])))
    expected = np.round(x[first["index"], 0].numpy() * 255)
    assert png.size == (28, 28) and np.array_equal(np.array(png), expected.astype(np.uint8))
    assert data["classes"] == [str(i) for i in range(10)] and data["n_classes"] == 0


def test_conditional_models_encode_with_the_true_label_and_name_the_classes(one_thread):
    model, shape = zoo_model("cvae")
    x, y = random_data(shape, n=40)
    classes = tuple("zero one two three four five six seven eight nine".split())
    data = explorer_data(model, x, y, classes=classes)
    assert data["n_classes"] == 10 and data["classes"] == list(classes) and "plane" not in data
    e = data["examples"][3]
    with torch.no_grad():
        z = model.encode_given_y(x[e["index"]][None], torch.tensor([e["label"]]))[0]
    np.testing.assert_allclose(e["z"], z[0], atol=1e-6)


def test_the_report_shows_the_explorer_the_reason_or_nothing(tmp_path):
    model, shape = zoo_model("vae_mlp_z2")
    with_data = fake_run(tmp_path, "vae_mlp_z2", model, shape)
    big = build_model(build_config({"model": {"name": "vae", "z_dim": 2}}).model, (3, 64, 64))
    refused = fake_run(tmp_path, "big", big, (3, 64, 64))
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.toml").write_text('[model]\nname = "vae"\n[data]\n[train]\n[eval]\n')

    html = write_report([old], tmp_path / "old.html").read_text()
    assert "Explore the latent space" not in html and "<script" not in html  # an older run: no explorer, no script

    html = write_report([refused], tmp_path / "refused.html").read_text()
    assert "No explorer for this run: the decoder has 3.8 M parameters" in html and "<script" not in html

    out = write_report([with_data, refused, old], tmp_path / "all.html")
    html = out.read_text()
    assert html.count("<h3>Explore the latent space</h3>") == 2 and html.count('class="explorer"') == 1
    assert html.count("<script>") == 1 and html.count('<script type="application/json" class="xp-data">') == 1
    assert "window.latentlabExplorer" in html and "</script" not in html.split("xp-data\">")[1].split("</script>")[0]
    size = re.search(r"This page: ([\d.]+) MB", html)
    assert size and abs(float(size.group(1)) * 1e6 - out.stat().st_size) < 0.01e6  # the footer states its size
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html)


def test_a_damaged_or_foreign_explorer_file_is_a_note_not_a_failure(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text('[model]\nname = "vae"\n[data]\n[train]\n[eval]\n')
    (run / "explorer.json").write_text(json.dumps({"format": 99}))
    assert "explorer.json has format 99, this version reads 1" in write_report([run], tmp_path / "a.html").read_text()
    (run / "explorer.json").write_text(json.dumps({"format": 1, "z_dim": 2}))
    html = write_report([run], tmp_path / "b.html").read_text()
    assert "explorer.json does not follow the explorer format" in html and "<script" not in html
