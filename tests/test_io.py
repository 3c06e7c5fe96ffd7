import numpy as np
import pytest
import torch
from PIL import Image

from ganprior.errors import GanpriorError
from ganprior.io import (expand_inputs, fit_image, make_sheet, read_image, read_mask, save_gif, save_image,
                         write_json)


def rgb(h=20, w=30):
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = 255  # pure red
    a[: h // 2, :, 2] = 128
    return a


class TestReadImage:
    def test_rgb_values(self, tmp_path):
        p = tmp_path / "a.png"
        Image.fromarray(rgb()).save(p)
        x, alpha = read_image(p)
        assert x.shape == (3, 20, 30) and alpha is None
        assert float(x[0].min()) == 1.0 and float(x[2, 0, 0]) == pytest.approx(128 / 255)

    def test_rgba_composited_over_white_and_alpha_returned(self, tmp_path):
        a = np.zeros((8, 8, 4), np.uint8)
        a[..., 3] = 255
        a[:4, :, 3] = 0  # top half transparent
        p = tmp_path / "a.png"
        Image.fromarray(a, "RGBA").save(p)
        x, alpha = read_image(p)
        assert alpha is not None and float(alpha[0, 0, 0]) == 0 and float(alpha[0, 7, 0]) == 1
        assert float(x[:, 0, 0].min()) == 1.0  # transparent -> white
        assert float(x[:, 7, 0].max()) == 0.0

    def test_opaque_rgba_has_no_alpha(self, tmp_path):
        a = np.full((8, 8, 4), 255, np.uint8)
        p = tmp_path / "a.png"
        Image.fromarray(a, "RGBA").save(p)
        assert read_image(p)[1] is None

    def test_gray_16bit_palette_cmyk_la_bilevel(self, tmp_path):
        g16 = (np.linspace(0, 65535, 64).reshape(8, 8)).astype(np.uint16)
        Image.fromarray(g16).save(tmp_path / "g16.png")
        x16, _ = read_image(tmp_path / "g16.png")
        assert x16.shape == (3, 8, 8) and float(x16.max()) == pytest.approx(1.0) and float(x16.min()) == 0.0
        Image.fromarray(rgb()).convert("P").save(tmp_path / "p.png")
        assert read_image(tmp_path / "p.png")[0].shape == (3, 20, 30)
        Image.fromarray(rgb()).convert("CMYK").save(tmp_path / "c.jpg")
        assert read_image(tmp_path / "c.jpg")[0].shape == (3, 20, 30)
        Image.fromarray(rgb()).convert("LA").save(tmp_path / "la.png")
        assert read_image(tmp_path / "la.png", channels=1)[0].shape == (1, 20, 30)
        Image.fromarray(rgb()).convert("1").save(tmp_path / "b.png")
        assert set(read_image(tmp_path / "b.png")[0].unique().tolist()) <= {0.0, 1.0}

    def test_gray_conversion_rec601(self, tmp_path):
        p = tmp_path / "a.png"
        Image.fromarray(rgb()).save(p)
        g, _ = read_image(p, channels=1)
        assert float(g[0, -1, 0]) == pytest.approx(0.299, abs=1e-3)

    def test_corrupt_and_non_images(self, tmp_path):
        Image.fromarray(rgb(64, 64)).save(tmp_path / "full.png")
        data = (tmp_path / "full.png").read_bytes()
        (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
        (tmp_path / "text.png").write_text("hello")
        with pytest.raises(GanpriorError, match="cannot read image .*trunc.png"):
            read_image(tmp_path / "trunc.png")
        with pytest.raises(GanpriorError, match="cannot read image .*text.png"):
            read_image(tmp_path / "text.png")
        with pytest.raises(GanpriorError, match="not found"):
            read_image(tmp_path / "missing.png")


class TestFit:
    def test_policies(self):
        x = torch.rand(3, 20, 40)
        assert fit_image(x, 16, "crop").shape == (3, 16, 16)
        assert fit_image(x, 16, "pad").shape == (3, 16, 16)
        assert fit_image(x, 16, "stretch").shape == (3, 16, 16)
        with pytest.raises(GanpriorError, match="unknown fit policy"):
            fit_image(x, 16, "zoom")

    def test_crop_takes_centre(self):
        x = torch.zeros(1, 10, 30)
        x[:, :, 10:20] = 1.0
        torch.testing.assert_close(fit_image(x, 10, "crop"), torch.ones(1, 10, 10))

    def test_identity_at_target_size(self):
        x = torch.rand(3, 16, 16)
        assert torch.equal(fit_image(x, 16), x)


class TestMask:
    def test_white_is_missing_and_resized(self, tmp_path):
        a = np.zeros((64, 64), np.uint8)
        a[16:48, 16:48] = 255
        Image.fromarray(a).save(tmp_path / "m.png")
        m = read_mask(tmp_path / "m.png", 16)
        assert m.shape == (1, 16, 16)
        assert float(m[0, 8, 8]) == 0 and float(m[0, 0, 0]) == 1
        inv = read_mask(tmp_path / "m.png", 16, white_is_missing=False)
        torch.testing.assert_close(inv, 1 - m)

    def test_degenerate_masks(self, tmp_path):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "black.png")
        Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "white.png")
        with pytest.raises(GanpriorError, match="marks no missing pixel"):
            read_mask(tmp_path / "black.png", 8)
        with pytest.raises(GanpriorError, match="every pixel as missing"):
            read_mask(tmp_path / "white.png", 8)


class TestWrite:
    def test_atomic_writes_leave_no_partial_files(self, tmp_path):
        save_image(torch.rand(3, 8, 8), tmp_path / "a.png")
        write_json([{"a": 1}], tmp_path / "m.json")
        save_gif([torch.rand(3, 8, 8) for _ in range(3)], tmp_path / "a.gif")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "a.png", "m.json"]
        x, _ = read_image(tmp_path / "a.png")
        assert x.shape == (3, 8, 8)
        assert Image.open(tmp_path / "a.gif").n_frames == 3

    def test_failed_write_keeps_previous_file(self, tmp_path):
        target = tmp_path / "m.json"
        write_json({"old": True}, target)
        with pytest.raises(TypeError):
            write_json({"bad": object()}, target)
        assert target.read_text().strip().startswith('{\n  "old"')
        assert [p.name for p in tmp_path.iterdir()] == ["m.json"]

    def test_sheet_size(self):
        s = make_sheet([torch.rand(1, 4, 4), torch.rand(3, 8, 8)], ["in", "out"], tile=32, pad=2)
        assert s.shape == (3, 32 + 14 + 4, 2 * 34 + 2)


class TestExpand:
    def test_folder_and_errors(self, tmp_path):
        (tmp_path / "d").mkdir()
        with pytest.raises(GanpriorError, match="holds no image files"):
            expand_inputs([tmp_path / "d"])
        Image.fromarray(rgb()).save(tmp_path / "d" / "b.png")
        Image.fromarray(rgb()).save(tmp_path / "d" / "a.jpg")
        (tmp_path / "d" / "notes.txt").write_text("x")
        assert [p.name for p in expand_inputs([tmp_path / "d"])] == ["a.jpg", "b.png"]
        with pytest.raises(GanpriorError, match="input not found"):
            expand_inputs([tmp_path / "zzz.png"])
        with pytest.raises(GanpriorError, match="no input"):
            expand_inputs([])
