"""Focused regression tests for the io.py/api.py bugs the reliability corpus found (issue #10)."""

from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprior.api import load_inputs
from ganprior.errors import GanpriorError
from ganprior.io import expand_inputs, read_image, read_mask

from .corpus import _rgb, encode, png_zero_bomb, tiff_bytes


def test_decompression_bomb_is_a_one_line_error(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(png_zero_bomb(20000, 10000))  # 2.2x PIL's limit: PIL raises DecompressionBombError
    with pytest.raises(GanpriorError, match=r"cannot read image .*bomb.png: Image size \(200000000 pixels\) exceeds"):
        read_image(p)
    with pytest.raises(GanpriorError, match="exceeds limit"):
        read_mask(p, 16)


def test_images_over_pils_pixel_limit_are_refused_not_warned_about(tmp_path, monkeypatch):
    # between MAX_IMAGE_PIXELS and twice that PIL only warns (and decodes it all); refused as well
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    p = tmp_path / "big.png"
    Image.new("L", (40, 40), 9).save(p)  # 1600 pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(GanpriorError, match="1600 pixels.*exceeds limit of 1000"):
            read_image(p)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # the documented way to read huge images
    assert read_image(p)[0].shape == (3, 40, 40)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_float_image_with_inf_or_nan_is_refused_without_numpy_warnings(tmp_path, value):
    a = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    a[2, 3] = value  # -inf used to be clipped to 0 silently, +inf printed a numpy RuntimeWarning
    p = tmp_path / "f.tif"
    Image.fromarray(a).save(p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(GanpriorError, match="NaN or infinite"):
            read_image(p)


def test_plugin_errors_other_than_oserror_are_one_line_errors(tmp_path):
    data = encode(Image.fromarray(_rgb(np.random.default_rng(0), 40, 48)), "QOI")
    p = tmp_path / "cut.qoi"
    p.write_bytes(data[:16])  # Pillow 12's QOI decoder raises IndexError on this
    with pytest.raises(GanpriorError, match=r"cannot read image .*cut.qoi: IndexError"):
        read_image(p)


def test_libtiff_messages_go_into_the_error_not_to_stderr(tmp_path, capfd):
    p = tmp_path / "fax.tif"
    p.write_bytes(tiff_bytes(16, 16, bytes(64), compression=4))  # CCITT G4 on 8-bit samples
    capfd.readouterr()
    with pytest.raises(GanpriorError, match=r"cannot read image .*fax.tif: .*\(Fax3SetupState: Bits/sample must be 1"):
        read_image(p)
    out, err = capfd.readouterr()
    assert err == "" and out == ""
    good = tmp_path / "good.tif"  # stderr works as before afterwards
    Image.new("RGB", (4, 4)).save(good)
    assert read_image(good)[0].shape == (3, 4, 4)
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


def _alarm(seconds: int):
    def fail(*_):
        raise TimeoutError("blocked")
    signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)


def test_fifo_is_refused_instead_of_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    _alarm(10)
    try:
        with pytest.raises(GanpriorError, match="pipe.png: not a regular file"):
            read_image(fifo)  # used to wait forever for a writer (e.g. --mask pipe.png)
        with pytest.raises(GanpriorError, match="pipe.png is not a regular file"):
            expand_inputs([fifo])
        with pytest.raises(GanpriorError, match="not a regular file"):
            load_inputs([torch.full((3, 16, 16), 0.5)], "inpaint", 16, mask=fifo)
    finally:
        signal.alarm(0)


def test_directory_is_refused_as_an_image(tmp_path):
    with pytest.raises(GanpriorError, match="not a regular file"):
        read_image(tmp_path)


def test_name_too_long_is_not_found_not_an_oserror(tmp_path):
    with pytest.raises(GanpriorError, match="input not found"):
        expand_inputs([tmp_path / ("x" * 300 + ".png")])  # Path.is_dir raised ENAMETOOLONG
    with pytest.raises(GanpriorError):  # Path.exists raised ENAMETOOLONG in _inpaint_masks
        load_inputs([torch.full((3, 16, 16), 0.5)], "inpaint", 16, mask="center:" + "0" * 300)


def test_unreadable_folder_is_a_one_line_error(tmp_path, monkeypatch):
    d = tmp_path / "locked"
    d.mkdir()
    Image.new("RGB", (4, 4)).save(d / "a.png")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "iterdir", denied)  # chmod 000 does not stop root, so simulate it
    with pytest.raises(GanpriorError, match="cannot read folder .*locked: Permission denied"):
        expand_inputs([d])


def test_unknown_format_names_the_file_once(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello")
    with pytest.raises(GanpriorError) as e:
        read_image(p)
    assert str(e.value).count("notes.png") == 1 and "not an image" in str(e.value)
