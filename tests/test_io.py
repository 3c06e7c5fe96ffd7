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


# ---------------------------------------------------------------------------------------------------
# issue #26: bit depths, transparent colours, durable writes, temporary folders of killed runs

def _png(width, height, bit_depth, color_type, samples: np.ndarray, trns: bytes | None = None) -> bytes:
    """A PNG from (h, row) samples of the given bit depth (a uint8 or >u2 array), with an optional tRNS."""
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    raw = b"".join(b"\x00" + row.tobytes() for row in samples)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + (chunk(b"tRNS", trns) if trns else b"")
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class TestBitDepth:
    """Integer samples are scaled by the file's declared depth, not by the largest pixel (#26, case 6)."""

    def test_16bit_pgm_whose_maximum_is_255_is_not_257_times_too_bright(self, tmp_path):
        p = tmp_path / "dark.pgm"
        p.write_bytes(b"P5\n2 2\n65535\n" + np.array([[0, 255], [128, 1]], ">u2").tobytes())
        x, alpha = read_image(p, channels=1)
        assert alpha is None
        assert x[0].flatten().tolist() == pytest.approx([0, 255 / 65535, 128 / 65535, 1 / 65535], abs=1e-9)

    @pytest.mark.parametrize("plain", [False, True])
    def test_pgm_maxval_1000_is_scaled_by_its_maxval(self, tmp_path, plain):
        p = tmp_path / "m1000.pgm"
        p.write_bytes(b"P2\n2 2\n1000\n0 1000 500 250\n" if plain
                      else b"P5\n2 2\n1000\n" + np.array([[0, 1000], [500, 250]], ">u2").tobytes())
        x, _ = read_image(p, channels=1)
        assert x[0].flatten().tolist() == pytest.approx([0, 1, 0.5, 0.25], abs=1 / 65535)

    def test_8bit_pgm_with_a_small_maxval(self, tmp_path):
        p = tmp_path / "m100.pgm"
        p.write_bytes(b"P5\n2 2\n100\n" + bytes([0, 100, 50, 25]))
        assert read_image(p, channels=1)[0][0].flatten().tolist() == pytest.approx([0, 1, 0.5, 0.25], abs=1 / 255)

    def test_16bit_png_with_low_values(self, tmp_path):
        p = tmp_path / "g16.png"
        Image.fromarray(np.array([[0, 255], [300, 65535]], np.uint16)).save(p)
        x, _ = read_image(p, channels=1)
        assert x[0].flatten().tolist() == pytest.approx([0, 255 / 65535, 300 / 65535, 1], abs=1e-9)

    def test_12bit_tiff_is_scaled_by_4095(self, tmp_path):
        from .fuzz.corpus import tiff_bytes
        p = tmp_path / "g12.tif"  # 12-bit samples 0xfff 0x000 0x800 0x100, packed MSB first
        p.write_bytes(tiff_bytes(2, 2, bytes([0xff, 0xf0, 0x00, 0x80, 0x01, 0x00]), bits=12))
        x, _ = read_image(p, channels=1)
        assert x[0].flatten().tolist() == pytest.approx([1, 0, 2048 / 4095, 256 / 4095], abs=1e-7)

    def test_32bit_tiff_is_scaled_by_its_range(self, tmp_path):
        p = tmp_path / "i32.tif"  # PIL writes mode I as signed 32-bit samples
        Image.fromarray(np.array([[0, 200000], [2 ** 30, 2 ** 31 - 1]], np.int32)).save(p)
        x, _ = read_image(p, channels=1)
        assert x[0].flatten().tolist() == pytest.approx([0, 200000 / (2 ** 31 - 1), 0.5, 1], abs=1e-7)

    def test_unsigned_32bit_and_signed_16bit_tiff(self, tmp_path):
        tifffile = pytest.importorskip("tifffile")
        tifffile.imwrite(tmp_path / "u32.tif", np.array([[0, 2 ** 31], [2 ** 32 - 1, 1]], np.uint32))
        x, _ = read_image(tmp_path / "u32.tif", channels=1)  # PIL stores these as signed: 2**31 and up were < 0
        assert x[0].flatten().tolist() == pytest.approx([0, 0.5, 1, 0], abs=1e-7)
        tifffile.imwrite(tmp_path / "s16.tif", np.array([[-5, 0], [32767, 16384]], np.int16))
        x, _ = read_image(tmp_path / "s16.tif", channels=1)
        assert x[0].flatten().tolist() == pytest.approx([0, 0, 1, 16384 / 32767], abs=1e-7)


class TestTransparentColour:
    """A PNG's tRNS colour in a gray, RGB or 16-bit file is transparency like an alpha channel (#26, case 7)."""

    @pytest.mark.parametrize("kind", ["L", "RGB", "gray16", "RGB16", "gray4", "gray1"])
    def test_trns_gives_alpha_and_white_composite(self, tmp_path, kind):
        if kind == "L":  # pixels 16 are transparent
            data = _png(2, 2, 8, 0, np.array([[0, 16], [16, 200]], np.uint8), b"\x00\x10")
            values = [0, 1, 1, 200 / 255]
        elif kind == "RGB":  # black is transparent
            data = _png(2, 2, 8, 2, np.array([[0, 0, 0, 9, 9, 9], [1, 2, 3, 0, 0, 0]], np.uint8), bytes(6))
            values = [1, 9 / 255, None, 1]
        elif kind == "gray16":  # 300 is transparent, 255 is not
            data = _png(2, 2, 16, 0, np.array([[0, 300], [255, 65535]], ">u2"), b"\x01\x2c")
            values = [0, 1, 255 / 65535, 1]
        elif kind == "RGB16":  # (300, 300, 300) is transparent; (300, 300, 301) and (0, 0, 0) are not
            data = _png(2, 2, 16, 2, np.array([[0, 0, 0, 300, 300, 300], [300, 300, 301, 65535, 65535, 65535]],
                                              ">u2"), b"\x01\x2c" * 3)
            values = [0, 1, None, 1]
        elif kind == "gray4":  # 4-bit samples 15 0 / 5 15, 15 transparent (PIL stretches them to 0..255)
            data = _png(2, 2, 4, 0, np.array([[0xF0], [0x5F]], np.uint8), b"\x00\x0f")
            values = [1, 0, 5 / 15, 1]
        else:  # 1-bit samples 0 1 / 1 0, 0 transparent
            data = _png(2, 2, 1, 0, np.array([[0x40], [0x80]], np.uint8), b"\x00\x00")
            values = [1, 1, 1, 1]
        p = tmp_path / f"{kind}.png"
        p.write_bytes(data)
        x, alpha = read_image(p, channels=1)
        expected_alpha = {"L": [1, 0, 0, 1], "RGB": [0, 1, 1, 0], "gray16": [1, 0, 1, 1], "RGB16": [1, 0, 1, 1],
                          "gray4": [0, 1, 1, 0], "gray1": [0, 1, 1, 0]}[kind]
        assert alpha is not None and alpha.shape == (1, 2, 2)
        assert alpha.flatten().tolist() == expected_alpha
        got = x[0].flatten().tolist()
        for g, v in zip(got, values):
            if v is not None:
                assert g == pytest.approx(v, abs=1e-6)
        x3, _ = read_image(p)
        assert torch.equal(x3[:, alpha[0] == 0], torch.ones(3, int((alpha == 0).sum())))  # over white

    def test_trns_colour_absent_from_the_image_means_opaque(self, tmp_path):
        p = tmp_path / "a.png"
        p.write_bytes(_png(2, 2, 8, 0, np.array([[0, 1], [2, 3]], np.uint8), b"\x00\x10"))
        assert read_image(p)[1] is None

    def test_trns_png_is_inpainted_and_is_a_mask(self, tmp_path):
        from ganprior.api import load_inputs
        a = np.full((16, 16, 3), 90, np.uint8)
        a[4:12, 4:12] = (255, 0, 255)  # the transparent colour
        p = tmp_path / "hole.png"
        Image.fromarray(a).save(p, transparency=(255, 0, 255))  # PIL writes a tRNS chunk
        inputs = load_inputs([p], "inpaint", 16)
        known = inputs.masks[0, 0]
        assert float(known[8, 8]) == 0 and float(known[0, 0]) == 1 and int((known == 0).sum()) == 64
        m = read_mask(p, 16)  # transparent pixels count as white: missing
        torch.testing.assert_close(m[0], known)


class TestDurableWrites:
    """Outputs get open()'s permissions and reach the disk before their rename (#26, case 13)."""

    @pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=["022", "077", "002"])
    def test_new_files_get_the_mode_open_would_give(self, tmp_path, umask):
        import os
        old = os.umask(umask)
        try:
            save_image(torch.rand(3, 4, 4), tmp_path / "a.png")
            write_json({"a": 1}, tmp_path / "m.json")
            with open(tmp_path / "plain.txt", "w"):
                pass
        finally:
            os.umask(old)
        for name in ("a.png", "m.json", "plain.txt"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name

    def test_a_replaced_file_keeps_its_mode(self, tmp_path):
        target = tmp_path / "m.json"
        write_json({"old": True}, target)
        target.chmod(0o640)
        write_json({"new": True}, target)
        assert target.stat().st_mode & 0o777 == 0o640 and '"new"' in target.read_text()

    def test_file_is_fsynced_before_the_rename_and_the_folder_after(self, tmp_path, monkeypatch):
        import os
        import stat
        events = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            mode = os.fstat(fd).st_mode
            events.append("fsync-file" if stat.S_ISREG(mode) else "fsync-dir" if stat.S_ISDIR(mode) else "fsync")
            real_fsync(fd)

        def replace(a, b):
            events.append("replace")
            real_replace(a, b)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        write_json({"a": 1}, tmp_path / "manifest.json")
        assert events == ["fsync-file", "replace", "fsync-dir"]
        events.clear()
        save_image(torch.rand(3, 4, 4), tmp_path / "a.png")
        assert events == ["fsync-file", "replace", "fsync-dir"]

    def test_a_folder_that_cannot_be_synced_is_no_error(self, tmp_path, monkeypatch):
        import errno
        import os
        import stat
        real_fsync = os.fsync

        def fsync(fd):
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "Invalid argument")
            real_fsync(fd)
        monkeypatch.setattr(os, "fsync", fsync)
        write_json({"a": 1}, tmp_path / "m.json")
        assert (tmp_path / "m.json").read_text().startswith("{")

    def test_a_disk_error_on_fsync_fails_the_write_and_keeps_the_old_file(self, tmp_path, monkeypatch):
        import errno
        import os
        target = tmp_path / "m.json"
        write_json({"old": True}, target)

        def fsync(fd):
            raise OSError(errno.EIO, "Input/output error")
        monkeypatch.setattr(os, "fsync", fsync)
        with pytest.raises(OSError, match="Input/output"):
            write_json({"new": True}, target)
        assert '"old"' in target.read_text() and [p.name for p in tmp_path.iterdir()] == ["m.json"]


class TestStaleJobFolders:
    """Temporary folders of killed runs are removed by the next run (#26, case 13)."""

    @staticmethod
    def _dead_pid() -> int:
        import subprocess
        import sys
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        return proc.pid

    @staticmethod
    def _backdate(p, seconds=3600):
        import os
        import time
        t = time.time() - seconds
        os.utime(p, (t, t), follow_symlinks=False)

    def test_dead_runs_folders_go_live_and_foreign_ones_stay(self, tmp_path):
        import os

        from ganprior.tempfiles import JOB_PREFIX, _host_tag, clean_stale_job_folders
        host, dead = _host_tag(), self._dead_pid()
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "keep.txt").write_text("mine")
        folders = {
            "dead": f"{JOB_PREFIX}{dead}-{host}-abc",
            "live": f"{JOB_PREFIX}{os.getppid()}-{host}-abc",
            "other_host": f"{JOB_PREFIX}{dead}-00000000-abc",
            "old_style": f"{JOB_PREFIX}k2j4h5a1",
            "other_prefix": f"ganprior-check-{dead}-{host}-abc",
        }
        for name in folders.values():
            (tmp_path / name).mkdir()
            (tmp_path / name / "in").mkdir()
            (tmp_path / name / "in" / "x.png").write_bytes(b"x")
        young = tmp_path / f"{JOB_PREFIX}{dead}-{host}-young"
        young.mkdir()
        link = tmp_path / f"{JOB_PREFIX}{dead}-{host}-link"
        link.symlink_to(outside, target_is_directory=True)
        inner_link = tmp_path / folders["dead"] / "link"
        inner_link.symlink_to(outside, target_is_directory=True)
        plain_file = tmp_path / f"{JOB_PREFIX}{dead}-{host}-file"
        plain_file.write_text("not a folder")
        for p in tmp_path.iterdir():
            if p != young:
                self._backdate(p)

        removed = clean_stale_job_folders(tmp_path)
        assert [p.name for p in removed] == [folders["dead"]]
        assert not (tmp_path / folders["dead"]).exists()
        for key in ("live", "other_host", "old_style", "other_prefix"):
            assert (tmp_path / folders[key] / "in" / "x.png").exists(), key
        assert young.is_dir() and link.is_symlink() and plain_file.is_file()
        assert (outside / "keep.txt").read_text() == "mine"  # links were not followed
        assert clean_stale_job_folders(tmp_path, min_age_s=0) == [young]

    def test_a_killed_runs_folder_is_cleaned_when_the_next_one_starts(self, tmp_path, monkeypatch):
        import os
        import signal
        import subprocess
        import sys
        import tempfile

        from ganprior.tempfiles import job_temp_prefix
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        script = ("import os, signal, tempfile\n"
                  "from ganprior.tempfiles import job_temp_prefix\n"
                  "d = tempfile.TemporaryDirectory(prefix=job_temp_prefix())\n"
                  "open(os.path.join(d.name, 'x'), 'w').close()\n"
                  "os.kill(os.getpid(), signal.SIGKILL)\n")
        env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": os.pathsep.join([p for p in sys.path if p])}
        proc = subprocess.Popen([sys.executable, "-c", script], env=env)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        (left,) = tmp_path.iterdir()
        assert left.name.startswith(f"ganprior-job-{proc.pid}-")
        job_temp_prefix()  # too young yet: kept
        assert left.exists()
        self._backdate(left)
        prefix = job_temp_prefix()
        assert not left.exists()
        assert prefix.startswith(f"ganprior-job-{os.getpid()}-")
