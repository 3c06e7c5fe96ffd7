"""The demo's inputs and its compact summary grid (issue #29)."""

from __future__ import annotations

import torch
from PIL import Image

from ganprior.demo import TITLES, demo_dir, demo_jobs
from ganprior.demo.grid import GAP, ITEM_GAP, LABEL_WIDTH, ROW_HEIGHT, scores_line, summary_grid


def test_the_demo_runs_real_public_domain_inputs_with_their_credits():
    root = demo_dir()
    faces = sorted(p.name for p in (root / "faces").glob("*.png"))
    assert faces == ["eileen_collins.png", "grace_hopper.png"]  # no prior samples: real faces only
    credits = (root / "CREDITS.md").read_text()
    for name in ("eileen_collins", "grace_hopper", "solvay_1927", "public domain"):
        assert name in credits
    for name, args in demo_jobs(root):
        assert name in TITLES
        for arg in args[1:]:
            if arg.startswith(str(root)):
                assert (root / arg[len(str(root)) + 1:]).exists(), arg
    photo = Image.open(root / "real" / "solvay_1927.png")
    assert photo.mode == "L" and photo.size == (390, 180)  # a black-and-white photo, not a crop


def test_the_summary_grid_puts_each_input_beside_its_result_at_one_height():
    gray = torch.full((1, 16, 32), 0.5)  # a wide gray input: scaled to the row height, kept in shape
    red = torch.zeros(3, 64, 64)
    red[0] = 1.0
    grid = summary_grid([("first", "PSNR 30.0 dB", [(gray, red), (red, red)]), ("second", "", [(red,)])],
                        title="demo")
    wide = 2 * ROW_HEIGHT  # 32 x 16 at 112 px high
    assert grid.shape == (3, 34 + 2 * (ROW_HEIGHT + GAP) + GAP,
                          LABEL_WIDTH + wide + GAP + ROW_HEIGHT + ITEM_GAP + 2 * ROW_HEIGHT + GAP + 2 * GAP)
    y = 34 + GAP
    assert torch.allclose(grid[:, y + 5, LABEL_WIDTH + 5], torch.full((3,), 0.5), atol=1 / 255)  # the input
    assert torch.equal(grid[:, y + 5, LABEL_WIDTH + wide + GAP + 5], torch.tensor([1.0, 0.0, 0.0]))  # its result


def test_scores_line_gives_means_and_time():
    records = [{"psnr": 30.0, "lpips": 0.02}, {"psnr": 32.0, "lpips": 0.04}, {"psnr": None, "lpips": None}]
    assert scores_line(records, 3.14) == "PSNR 31.0 dB  LPIPS 0.030  3.1 s"
    assert scores_line([{"psnr": None}], 12.0) == "12.0 s"
