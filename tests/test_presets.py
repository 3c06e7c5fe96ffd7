"""Task presets: the recipe each style gives a task chain, the user's options winning over it, and
the command line and the API running the recipe (the manifest records what ran)."""

import json

import pytest
import torch

import ganprior
from ganprior.errors import GanpriorError
from ganprior.presets import (DEFAULT_STYLES, PRESET_CHOICES, RECIPES, STYLES, apply_preset, default_style,
                              task_preset)
from ganprior.tasks import TASKS

from .conftest import assert_one_line_error, run_cli


def test_every_task_has_a_recipe_in_every_style():
    for style in STYLES:
        assert set(RECIPES[style]) == set(TASKS)
        for recipe in RECIPES[style].values():
            assert recipe["method"] in ("single", "multi", "subspace", "dgp")
    assert set(DEFAULT_STYLES) == set(TASKS) and set(DEFAULT_STYLES.values()) <= set(STYLES)


def test_faithful_is_pixel_only_and_perceptual_adds_the_vgg_term():
    for task in TASKS:
        assert task_preset([task], "faithful")["perceptual"] == 0.0
        assert task_preset([task], "perceptual")["perceptual"] not in (0, 0.0, None)


def test_a_chain_takes_the_recipe_of_its_leading_task():
    # denoise > inpaint > super-resolve > colorize > reconstruct
    assert task_preset(["colorize", "inpaint", "super-resolve"], "auto") == task_preset(["inpaint"], "auto")
    assert task_preset(["super-resolve", "denoise"], "perceptual") == task_preset(["denoise"], "perceptual")
    assert default_style(["colorize"]) == DEFAULT_STYLES["colorize"]
    assert task_preset("reconstruct", "auto") == RECIPES[DEFAULT_STYLES["reconstruct"]]["reconstruct"]
    assert task_preset(["denoise"], "none") == {}


def test_user_options_win_and_another_method_drops_the_preset():
    chosen = apply_preset(["denoise"], "perceptual", {"method": None, "perceptual": 0.5, "steps": 7})
    assert chosen["perceptual"] == 0.5 and chosen["steps"] == 7 and chosen["method"] == RECIPES["perceptual"]["denoise"]["method"]
    other = "single" if RECIPES["faithful"]["reconstruct"]["method"] != "single" else "multi"
    chosen = apply_preset(["reconstruct"], "faithful", {"method": other, "perceptual": None})
    assert chosen == {"method": other, "perceptual": None}
    assert apply_preset(["reconstruct"], "none", {"method": None}) == {"method": "multi"}


def test_unknown_preset_is_one_line():
    with pytest.raises(GanpriorError, match="preset must be one of") as e:
        task_preset(["denoise"], "sharp")
    assert "\n" not in str(e.value)
    assert PRESET_CHOICES == ("auto", "faithful", "perceptual", "none")


def test_api_runs_the_preset(tiny_prior, monkeypatch):
    seen = []
    import ganprior.pipeline
    real = ganprior.pipeline.method_loss

    def spy(method, perceptual, **kw):
        seen.append(perceptual)
        return real(method, 0.0, **kw)  # the spy records the weight; the tiny test runs pixel-only
    monkeypatch.setattr(ganprior.pipeline, "method_loss", spy)
    x = torch.rand(1, 3, 16, 16)
    for style in ("faithful", "perceptual"):
        r = ganprior.restore(x, "reconstruct", tiny_prior, simulate=True, preset=style, steps=2, num_codes=2,
                             layer=1)
        assert r.images.shape == (1, 3, 16, 16)
    assert seen == [RECIPES["faithful"]["reconstruct"]["perceptual"], RECIPES["perceptual"]["reconstruct"]["perceptual"]]
    with pytest.raises(GanpriorError, match="preset must be one of"):
        ganprior.restore(x, "reconstruct", tiny_prior, simulate=True, preset="sharp", steps=1)


@pytest.mark.integration
def test_cli_records_the_resolved_recipe(tmp_path, capsys, tiny_checkpoint, face_pngs):
    out = tmp_path / "out"
    code, _, err = run_cli(["denoise", face_pngs[0], "--out", out, "--prior", tiny_checkpoint, "--simulate",
                            "--preset", "faithful", "--steps", "2", "--codes", "2", "--layer", "1", "--quiet"], capsys)
    assert code == 0, err
    options = json.loads((out / "manifest.json").read_text())["settings"]
    recipe = RECIPES["faithful"]["denoise"]
    assert options["preset"] == "faithful" and options["method"] == recipe["method"]
    assert options["perceptual"] == recipe["perceptual"] and options["num_codes"] == 2 and options["steps"] == 2
    record = json.loads((out / "metrics.json").read_text())[0]
    assert record["method"] == recipe["method"] and record["steps"] == 2


@pytest.mark.integration
def test_cli_rejects_an_unknown_preset(tmp_path, capsys, face_pngs):
    code, _, err = run_cli(["denoise", face_pngs[0], "--out", tmp_path / "o", "--preset", "sharp"], capsys)
    assert_one_line_error(code, err, "invalid choice: 'sharp'")  # argparse's mistake, before anything is written
    assert not (tmp_path / "o").exists()
