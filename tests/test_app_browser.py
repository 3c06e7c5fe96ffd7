"""End to end: start ``ganprior app`` on localhost and drive it with Playwright in headless Chromium.

Uses Debian's ``chromium`` (``./dev.sh test`` installs it; Playwright's own browser download does not
work offline). Without Playwright or Chromium the test is skipped, except under CI, where it fails.
The screenshot goes to ``results/app/`` (``GANPRIOR_SCREENSHOTS`` overrides it). The README's was taken with
``GANPRIOR_APP_STEPS=300 GANPRIOR_SCREENSHOTS=docs .venv/bin/python -m pytest tests/test_app_browser.py -k inpaint``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "src" / "ganprior" / "demo" / "real" / "astronaut.png"
SECOND = ROOT / "src" / "ganprior" / "demo" / "faces" / "grace_hopper.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
STEPS = int(os.environ.get("GANPRIOR_APP_STEPS", 40))  # the README screenshot is taken with 300


def _need(what: str, ok: bool) -> None:
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing in CI: ./dev.sh test installs it")
        pytest.skip(f"{what} is not installed (./dev.sh test installs it)")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    found = all(importlib.util.find_spec(m) is not None for m in ("gradio", "playwright"))
    _need("gradio/playwright (pip extra [test])", found)
    _need("Debian's chromium", CHROMIUM is not None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path_factory.mktemp("app-runs")
    log = open(out / "server.log", "w")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from ganprior.cli import main; sys.exit(main())",
                             "app", "--host", "127.0.0.1", "--port", str(port), "--out", str(out), "--threads", "1"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"the app did not start: {(out / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _open(browser, url: str):
    """A page that may reach the app only: anything else (web fonts, CDNs) is refused at once, as offline."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url) else route.abort())
    page.goto(url, wait_until="domcontentloaded", timeout=60000)
    page.locator("#upload input[type=file]").wait_for(state="attached", timeout=60000)
    return page


def _load(page, image: Path) -> None:
    page.locator("#upload input[type=file]").set_input_files(str(image))
    page.wait_for_function("document.querySelector('#status').innerText.includes('Loaded')", timeout=30000)
    # the editor takes the image and its empty layer after the status says so: a stroke drawn before
    # that lands on the image itself (seen once in CI on busy cores)
    page.wait_for_timeout(1500)


def _status_done(page, timeout_ms: int = 120000) -> str:
    page.wait_for_function("/^(Done|Error|Cancelled)/.test(document.querySelector('#status').innerText.trim())",
                           timeout=timeout_ms)
    return page.locator("#status").inner_text().strip()


def _download(page, name: str) -> bytes:
    href = page.locator(f'#downloads a[download="{name}"]').first.get_attribute("href")
    assert href, f"no download link for {name}"
    response = page.request.get(href if href.startswith("http") else page.url.rstrip("/") + href)
    assert response.ok, f"download of {name} failed: {response.status}"
    return response.body()


def _set_steps(page, steps: int) -> None:
    box = page.locator("#steps input[type=number]")
    box.fill(str(steps))
    box.press("Enter")


def test_inpaint_a_painted_mask_in_the_browser(app_url):
    from playwright.sync_api import sync_playwright
    shots = Path(os.environ.get("GANPRIOR_SCREENSHOTS", ROOT / "results" / "app"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = _open(browser, app_url)
            _load(page, EXAMPLE)
            assert "Loaded astronaut (64×64)" in page.locator("#status").inner_text()
            # paint a band across the face with the brush (selected by default)
            canvas = page.locator("#editor canvas").first.bounding_box()
            cx, cy = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
            page.mouse.move(cx - 60, cy - 20)
            page.mouse.down()
            for k in range(0, 41, 10):  # few, coarse moves: software-rendered canvas events are slow
                page.mouse.move(cx + 60, cy - 20 + k, steps=3)
                page.mouse.move(cx - 60, cy - 15 + k, steps=3)
            page.mouse.up()
            _set_steps(page, STEPS)
            # a second tab runs a different job at the same time; results must not mix
            other = _open(browser, app_url)
            _load(other, SECOND)
            other.locator("#task input").click()
            other.get_by_role("option", name="reconstruct", exact=True).click()
            _set_steps(other, 20)
            # record every status text the page shows, so live progress is checked even when a busy
            # machine lets the run finish between two polls of a wait
            page.evaluate("window.__seen = new Set(); setInterval(() => { const e = document.querySelector('#status');"
                          " if (e) window.__seen.add(e.innerText.trim()); }, 50)")
            page.locator("#run").click()
            other.locator("#run").click()
            status = _status_done(page, timeout_ms=240000)
            seen = page.evaluate("Array.from(window.__seen)")
            live = [s for s in seen if re.search(rf"step \d+/{STEPS}", s) and not s.startswith("Done")]
            assert live, f"no live progress was shown while the run went on: {seen}"
            other_status = _status_done(other)
            assert status.startswith(f"Done: multi inpaint on utkface64, {STEPS} steps"), status
            assert other_status.startswith("Done: multi reconstruct on utkface64, 20 steps"), other_status
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / "app_inpaint.png"), full_page=True)

            shown = float(re.search(r"PSNR \(dB\)\s+([\d.]+)", page.locator("#metrics").inner_text()).group(1))
            record = json.loads(_download(page, "metrics.json"))
            assert record["task"] == "inpaint" and record["steps"] == STEPS and record["simulated"]
            assert abs(record["psnr"] - shown) < 0.01 and record["psnr"] > 12
            result = np.asarray(Image.open(io.BytesIO(_download(page, "result.png"))).convert("RGB")).astype(float)
            truth = np.asarray(Image.open(io.BytesIO(_download(page, "ground_truth.png"))).convert("RGB")).astype(float)
            observed = np.asarray(Image.open(io.BytesIO(_download(page, "input.png"))).convert("RGB")).astype(float)
            assert result.shape == truth.shape == (64, 64, 3)
            hole = (observed == 0).all(axis=2) & (truth > 0).any(axis=2)  # painted pixels are zeroed in the input
            assert 20 < hole.sum() < 64 * 64 / 2, hole.sum()
            assert np.abs(result[~hole] - truth[~hole]).max() <= 1  # known pixels pasted back
            assert np.abs(result[hole] - 0).mean() > 20  # the hole was filled, not left black
            psnr = 10 * np.log10(255.0 ** 2 / ((result - truth) ** 2).mean())
            assert abs(psnr - record["psnr"]) < 0.2
            # the other tab's downloads are its own: a reconstruction, no mask, another folder
            other_record = json.loads(_download(other, "metrics.json"))
            assert other_record["task"] == "reconstruct" and other_record["steps"] == 20
            assert (_download(other, "result.png") != _download(page, "result.png"))
        finally:
            browser.close()


def test_a_non_image_upload_shows_a_message_in_the_page(app_url, tmp_path):
    from playwright.sync_api import sync_playwright
    fake = tmp_path / "notes.png"
    fake.write_text("not an image at all")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = _open(browser, app_url)
            page.locator("#upload input[type=file]").set_input_files(str(fake))
            page.wait_for_function("document.querySelector('#status').innerText.includes('Error')", timeout=30000)
            text = page.locator("#status").inner_text().strip()
            assert text == "Error: notes.png is not an image this app can read (PNG, JPEG, WebP, BMP, TIFF, GIF)"
            assert "Traceback" not in page.content()
        finally:
            browser.close()
