#!/usr/bin/env bash
# Install the FTW training stack (torchgeo 0.7.2, ftw-tools 1.4.3, CPU torch 2.13.0) into a venv.
#
#   bash ftw_assets_tests/train_stack.sh [PYTHON]      # PYTHON of the target venv, default .venv/bin/python
#
# Idempotent: exits at once when the stack already imports at the pinned versions.
#
# Why the steps are in this order:
# 1. torch==2.13.0 first. Here pip resolves that pin to the local CPU wheel; once it is installed,
#    every later `torch` requirement is already met. Without it, pip takes the registry's newest
#    torch with several GB of CUDA packages.
# 2. torchgeo 0.7.2 and what ftw-tools' training code imports, with torch held at 2.13.0 by a
#    constraint. ftw-tools 1.4.3 imports torchgeo.transforms.AugmentationSequential, which torchgeo
#    0.8 removed, so torchgeo stays at 0.7.2. pip picks torchvision 0.28.0 here, the only release
#    that allows torch 2.13.0.
# 3. ftw-tools 1.4.3 with --no-deps. Its metadata pins pyarrow==16.1.0, dask==2025.5.1 and
#    fiboa-cli==0.7.0, which its download and inference commands use. Installing them would
#    downgrade this project's pyarrow. `ftw model fit` and the FTW dataset need only the packages of
#    step 2.
# 4. torchvision is replaced by 0.16.2 with --no-deps. The registry has 0.28.0 only as a CUDA build:
#    its _C.so links libtorch_cuda.so and libc10_cuda.so, which CPU torch does not ship. The
#    extension fails to load, and from 0.17 on torchvision registers a fake kernel for
#    torchvision::nms without checking that, so `import torchvision` fails with
#    "operator torchvision::nms does not exist" (pytorch/vision#9337; the guard that fixes it,
#    pytorch/vision#9649, is not released). 0.16.2 is the newest release that only registers meta
#    kernels when the extension loads (0.17 and 0.18 use impl_abstract("torchvision::nms"), 0.19 and
#    later use register_fake, both unconditional). Its own _C.so does not load either, so
#    torchvision.ops (nms, roi_align) and torchvision.io's image decoders are unavailable. FTW
#    training does not use them: it needs torchvision's model and transform code, which is pure Python.
# 5. hydra-core and omegaconf are removed, and antlr4-python3-runtime goes back to 4.13. torchgeo
#    requires lightly, which requires hydra-core, and omegaconf pins antlr4-python3-runtime==4.9.*.
#    With 4.9, Dagster's asset selection parser (generated with 4.13) fails with "TypeError: ord()
#    expected string of length 1, but int found" in ATNDeserializer. With 4.13, omegaconf's grammar
#    fails with "Could not deserialize ATN with version 3 (expected 4)", and hydra-core's pytest
#    plugin imports it at every pytest start. Only lightly's CLI and embedding modules use hydra;
#    torchgeo imports lightly's losses, heads and schedulers.
# `pip check` therefore reports "torchvision 0.16.2 requires torch==2.1.2" and ftw-tools' unmet pins.
# It also reports lightly's missing hydra-core. These are known and accepted.
set -euo pipefail

PY="${1:-.venv/bin/python}"
TORCH=2.13.0
TORCHVISION=0.16.2
TORCHGEO=0.7.2
FTW_TOOLS=1.4.3

check() {
  "$PY" - "$TORCH" "$TORCHVISION" "$TORCHGEO" <<'EOF' 2>/dev/null
import sys
import warnings
warnings.simplefilter("ignore")
import importlib.metadata
import torch, torchvision, torchgeo, ftw.datamodules, ftw_cli.cli  # noqa: E401
want = sys.argv[1:]
import importlib.util
if not importlib.metadata.version("antlr4-python3-runtime").startswith("4.13") or importlib.util.find_spec("omegaconf"):
    sys.exit(1)
got = [torch.__version__.split("+")[0], torchvision.__version__.split("+")[0], torchgeo.__version__]
sys.exit(0 if got == want else 1)
EOF
}

if check; then
  echo "train stack already installed in $PY"
  exit 0
fi

start=$(date +%s)
pip_q() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }

pip_q "torch==$TORCH"
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==$TORCH" > "$constraints"
# ftw-tools' own imports beyond torchgeo's: click, wget (its CLI), scipy and xarray (ftw.utils),
# tensorboard (the logger its trainer writes the learning rate to).
pip_q -c "$constraints" -e "$(cd "$(dirname "$0")/.." && pwd)[train]"  # torchgeo==$TORCHGEO and the rest
pip_q --no-deps "ftw-tools==$FTW_TOOLS"
pip_q --no-deps --force-reinstall "torchvision==$TORCHVISION"
"$PY" -m pip uninstall --quiet --yes hydra-core omegaconf
pip_q --no-deps "antlr4-python3-runtime>=4.13,<4.14"

if ! check; then
  echo "train stack: imports failed after install; the error:" >&2
  "$PY" -c "import torch, torchvision, torchgeo, ftw.datamodules, ftw_cli.cli" >&2 || true
  exit 1
fi
echo "train stack installed in $(( $(date +%s) - start )) s: torch $TORCH (CPU), torchvision $TORCHVISION (no C++ ops)," \
     "torchgeo $TORCHGEO, ftw-tools $FTW_TOOLS"
