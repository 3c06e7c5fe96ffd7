"""The one restoration path: the CLI, the API and the web app run the same Pipeline, so the same
settings and seed give byte-identical results; RunConfig is the single source of options."""

import re

import numpy as np
import pytest
import torch
from PIL import Image

import ganprior
from ganprior.app import handlers as h
from ganprior.config import RunConfig
from ganprior.errors import GanpriorError
from ganprior.io import encode_image
from ganprior.pipeline import Pipeline
from .conftest import run_cli


@pytest.mark.integration
@pytest.mark.parametrize("task, cli_flags, api_options, app_options", [
    ("super-resolve", ["--factor", "2"], {"factor": 2}, {"factor": 2}),
    ("colorize", [], {}, {}),
    ("reconstruct", ["--method", "single"], {"method": "single"}, {"method": "single"}),
])
def test_cli_api_and_app_give_byte_identical_results(tmp_path, capsys, tiny_checkpoint, face_pngs, task, cli_flags,
                                                    api_options, app_options):
    face = face_pngs[0]
    code, _, err = run_cli([task, face, "--out", tmp_path / "cli", "--prior", tiny_checkpoint, "--simulate",
                            "--steps", "6", "--seed", "3", "--quiet", *cli_flags], capsys)
    assert code == 0, err
    from_cli = (tmp_path / "cli" / f"{face.stem}.png").read_bytes()

    result = ganprior.restore(face, task, str(tiny_checkpoint), simulate=True, steps=6, seed=3, **api_options)
    from_api = encode_image(result.images[0])

    image = np.asarray(Image.open(face).convert("RGB"))
    # the app loads priors by registry name only (never a server path); a checkpoint reaches its
    # handler as a loaded Prior, as from the Python API
    from ganprior.priors import load_prior
    updates = list(h.restore_stream({"background": image, "layers": [], "composite": None}, task,
                                    load_prior(str(tiny_checkpoint)), steps=6, simulate=True, seed=3,
                                    out_root=tmp_path / "app", **app_options))
    final = updates[-1]
    assert final.done and not final.error, final.status
    from_app = next(open(f, "rb").read() for f in final.files if f.endswith("result.png"))

    assert from_cli == from_api == from_app
    # and the run really used the task's preset: the manifest records the resolved recipe
    import json
    settings = json.loads((tmp_path / "cli" / "manifest.json").read_text())["settings"]
    preset = RunConfig.from_options(task, **api_options).resolved(2)
    assert settings["method"] == preset.method and settings["blend"] == preset.blend


def test_run_config_resolves_the_task_preset_and_method_defaults():
    sr = RunConfig.from_options("super-resolve", factor=4).resolved(num_layers=4)
    assert (sr.method, sr.layer, sr.num_codes, sr.blend, sr.perceptual, sr.steps, sr.lr) == \
        ("multi", 1, 20, 0.5, 0.0, 300, 0.03)
    color = RunConfig.from_options("colorize").resolved(num_layers=4)
    assert (color.method, color.latent_init, color.lr, color.steps, color.num_candidates) == ("single", "best", 0.08, 50, 256)
    # a user's own method drops the preset's recipe, keeping only that method's defaults
    single = RunConfig.from_options("super-resolve", factor=4, method="single").resolved(num_layers=4)
    assert (single.method, single.blend, single.lr, single.perceptual) == ("single", 0.0, 0.1, "auto")
    # resolving twice changes nothing (the manifest's settings rerun as they are)
    assert sr.resolved(4) == sr


def test_run_config_json_round_trip():
    c = RunConfig.from_options("denoise", noise_sigma=0.2, seed=7, blend=0.1).resolved(4)
    assert RunConfig.from_json(c.to_json()) == c


@pytest.mark.parametrize("options, pattern", [
    ({"num_code": 3}, "unknown option(s) num_code"),
    ({"steps": -1}, "steps must be >= 0"),
    ({"lr": float("nan")}, "learning rate must be finite"),
    ({"blend": 2}, "blend weight must be in [0, 1], got 2.0"),
    ({"num_codes": 100000}, "codes must be <= 512"),
    ({"seed": 2 ** 64}, "seed must be <= 4294967295"),
    ({"perceptual": "lots"}, "perceptual weight must be a number or 'auto'"),
    ({"method": "magic"}, "method must be one of single, multi, subspace, dgp"),
])
def test_run_config_refuses_bad_settings_with_one_line(options, pattern):
    with pytest.raises(GanpriorError, match=re.escape(pattern)):
        RunConfig.from_options("reconstruct", **options).validate()


def test_task_options_belong_to_their_task():
    with pytest.raises(GanpriorError, match="reconstruct takes no option factor"):
        RunConfig.from_options("reconstruct", factor=4).validate()


def test_custom_physics_keeps_the_preset_and_pixel_loss(tiny_prior):
    """A user's physics used to drop the presets and switch the VGG term on (issue #25 (f))."""
    import deepinv as dinv
    physics = dinv.physics.Downsampling(img_size=(3, 16, 16), factor=2, filter="bicubic", padding="replicate")
    pipe = Pipeline(RunConfig.from_options("super-resolve", factor=2), prior=tiny_prior, physics=physics)
    assert pipe.config.method == "multi" and pipe.config.perceptual == 0.0 and pipe.config.layer == 1
    x = tiny_prior.to_unit(tiny_prior.generate(torch.randn(1, 8, 1, 1))).clamp(0, 1)
    r = ganprior.restore(x, "super-resolve", tiny_prior, physics=physics, simulate=True, steps=5, factor=2)
    assert r.images.shape == (1, 3, 16, 16) and not r.notes
