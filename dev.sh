#!/usr/bin/env bash
# One entry point for a fresh machine with Python 3.11 and access to the package registry.
#   ./dev.sh demo   set up .venv, then restore the bundled demo inputs (results/demo/summary.png)
#   ./dev.sh test   set up .venv (and Debian's chromium for the browser test), then run the test suite
#   ./dev.sh bench  set up .venv, then run every benchmark and rebuild BENCHMARKS.md (needs ../shared;
#                   about 5 h on 2 cores); with arguments, only benchmarks/inversion.py ARGS
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.ganprior-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  touch "$stamp"
fi
cmd=${1:-demo}
shift || true
case "$cmd" in
  demo)  exec .venv/bin/ganprior demo --out results/demo "$@" ;;
  test)
    # the web app's browser test needs Chromium; Playwright's own download does not work offline,
    # so it drives Debian's package
    if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "installing Debian's chromium for the browser test" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
        || echo "could not install chromium: the browser test will be skipped (or fail under CI)" >&2
    fi
    # the Real-ESRGAN parity test runs the wheel's own ncnn build, which needs the Vulkan loader and
    # LLVM's OpenMP runtime (it runs on the CPU through them; without them that one test skips)
    if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "installing libvulkan1 and libomp5 for the Real-ESRGAN parity test" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvulkan1 libomp5) >/dev/null \
        || echo "could not install libvulkan1/libomp5: the Real-ESRGAN parity test will be skipped" >&2
    fi
    exec .venv/bin/python -m pytest "$@" ;;
  bench)
    if [ $# -eq 0 ]; then
      .venv/bin/python benchmarks/subspace.py --part all
      .venv/bin/python benchmarks/prior_quality.py
      .venv/bin/python benchmarks/dgp.py
      .venv/bin/python benchmarks/defense.py
      .venv/bin/python benchmarks/editing.py
      .venv/bin/python benchmarks/throughput.py
      exec .venv/bin/python benchmarks/inversion.py --part all
    fi
    exec .venv/bin/python benchmarks/inversion.py "$@" ;;
  *) echo "usage: ./dev.sh demo|test|bench [args]" >&2; exit 2 ;;
esac
