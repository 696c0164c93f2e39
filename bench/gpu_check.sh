#!/usr/bin/env bash
# The project's GPU check: one command, run from the repository root on a machine with a GPU.
#
#   bash bench/gpu_check.sh --fetch   # here, where the package registry is reachable: the wheels the accelerator
#                                     # machine lacks (fastai and its pure-Python helpers) into .whl/ (git-ignored)
#   bash bench/gpu_check.sh           # on the GPU machine (carry .whl): install them if fastai is missing, check
#                                     # every CUDA path, run bench.py's sections on the GPU, write results/bench_gpu.txt
#   bash bench/gpu_check.sh --dry     # the same code on the CPU at tiny sizes, in well under a minute (CI runs it)
#   bash bench/gpu_check.sh --paper   # on the GPU machine (carry .whl): Experiments 1, 2 and 4 at GPU scale instead of the
#                                     # check (`fastai-bsi-experiment paper|lamb|ramp --scale gpu --workers 8`), into
#                                     # results/paper_gpu.csv, results/lamb_gpu.csv and results/ramp_gpu.csv
#   bash bench/gpu_check.sh --demo    # on the GPU machine (carry .whl): `fastai-bsi-demo --device cuda` at its defaults,
#                                     # into results/demo_gpu/ (--dry runs it too, as `--quick --device cpu`)
#
# With the device tool: run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=540); the output is also
# copied to $OUT when that is set. About 8 minutes on one H200 is the budget (see bench/README.md).
set -uo pipefail
cd "$(dirname "$0")/.."

# fastai 2.8's imports that the accelerator image lacks (it has torch, torchvision, numpy, pandas, matplotlib,
# scikit-learn, scipy, rich, accelerate...). fastprogress 1.0.3: later versions import python-fasthtml and its web stack.
WHEELS="fastai==2.8.12 fastcore==2.2.41 fastdownload==0.0.8 fastprogress==1.0.3 fasttransform==0.0.5 plum-dispatch==2.9.0 beartype==0.23.1"

if [ "${1:-}" = "--fetch" ]; then
  mkdir -p .whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl $WHEELS || exit 1
  # the decoded Imagenette at 32 px (41 MB, for --paper) and 24 px (23 MB, for --demo): the JPEGs (95 MB) do not fit
  # in one 64 MiB carry; with the wheels, .whl holds about 66 MB (63 MiB)
  mkdir -p .whl/data
  python3 -c "
from fastai_bsi.data import load_imagenette, imagenette_path
import shutil
p = imagenette_path()
for px in (32, 24):
    for s in ('train', 'val'): load_imagenette(s, px); shutil.copy(p/'.fastai_bsi_cache'/f'{s}_{px}_None_0.pt', '.whl/data/')
open('.whl/data/classes.txt', 'w').write(' '.join(sorted(d.name for d in (p/'train').iterdir() if d.is_dir())))
" || exit 1
  ls -l .whl .whl/data; du -sh .whl; exit 0
fi

dry=0; [ "${1:-}" = "--dry" ] && dry=1
if ! python3 -c "import fastai, fastcore, fastprogress" 2>/dev/null; then
  if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "fastai is not installed here and .whl/ holds no wheels: run 'bash bench/gpu_check.sh --fetch' where pip can"
    echo "reach the package registry, then carry .whl to this machine"; exit 2
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/fastai_bsi_site .whl/*.whl || exit 2
  export PYTHONPATH=/tmp/fastai_bsi_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}     # fastai_bsi from this checkout
export PYTHONUNBUFFERED=1

# put the decoded Imagenette of .whl/data where untar_data and load_imagenette find it (class folders, no JPEGs)
use_decoded() {
  [ -f .whl/data/train_$1_None_0.pt ] || { echo ".whl/data holds no decoded Imagenette at $1 px: run 'bash bench/gpu_check.sh --fetch' first"; exit 2; }
  export FASTAI_HOME=${FASTAI_HOME:-/tmp/fastai_home}
  d=$FASTAI_HOME/data/imagenette2-160
  for c in $(cat .whl/data/classes.txt); do mkdir -p $d/train/$c $d/val/$c; done
  mkdir -p $d/.fastai_bsi_cache && cp .whl/data/*_$1_None_0.pt $d/.fastai_bsi_cache/
}
# run a line of Python from fastai_bsi.experiments without torch's deprecation noise; its exit status
py_exp() { python3 -c "from fastai_bsi.experiments import *; $1" 2>&1 | grep -v -e 'FutureWarning' -e 'warnings.warn('; return ${PIPESTATUS[0]}; }

if [ "${1:-}" = "--demo" ]; then
  use_decoded 24
  mkdir -p results
  py_exp "demo(device='cuda', out='results/demo_gpu')"; rc=$?
  if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then cp -r results/demo_gpu "$OUT/"; fi
  echo "gpu_check --demo: exit $rc"; exit $rc
fi

if [ "${1:-}" = "--paper" ]; then
  use_decoded 32
  mkdir -p results
  py_exp "experiment('paper', scale='gpu', out='results', workers=8)"; rc=$?
  py_exp "experiment('lamb', scale='gpu', out='results', workers=8)" || rc=1     # Experiment 2: results/lamb_gpu.csv
  py_exp "experiment('ramp', scale='gpu', out='results', workers=8)" || rc=1     # Experiment 4: results/ramp_gpu.csv (its dry run: 10_grow_batch)
  if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then cp results/paper_gpu.csv results/lamb_gpu.csv results/ramp_gpu.csv results/runs.log "$OUT/" 2>/dev/null; fi
  echo "gpu_check --paper: exit $rc"; exit $rc
fi

if [ $dry -eq 1 ]; then out=${TMPDIR:-/tmp}/bench_gpu_dry.txt; else mkdir -p results; out=results/bench_gpu.txt; fi
python3 bench/gpu_check.py "$@" 2>&1 | grep -v -e 'FutureWarning' -e 'warnings.warn(' | tee "$out"
rc=${PIPESTATUS[0]}
# issue 22's two one-pass options, measured where they were meant for (on the CPU both lose: results/onepass_*_cpu.txt)
if [ $dry -eq 1 ]; then op="--device cpu --px 16 --micro 8 --rounds 1 --batches 1"; else op="--device cuda"; fi
for b in onepass_bn onepass_wgrad_once; do
  echo "== bench/$b.py $op" | tee -a "$out"
  python3 bench/$b.py $op 2>&1 | grep -v -e 'FutureWarning' -e 'warnings.warn(' | tee -a "$out"; [ ${PIPESTATUS[0]} -eq 0 ] || rc=1
done
if [ $dry -eq 1 ]; then   # the demo's code path, as --demo runs it on a GPU, at --quick on the CPU
  py_exp "demo(quick=True, device='cpu', out='${TMPDIR:-/tmp}/bsi_demo_dry')" > "$out.demo"; [ $? -eq 0 ] || rc=1
  cat "$out.demo" | tee -a "$out"
fi
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then cp "$out" "$OUT/"; fi
echo "gpu_check: exit $rc, output in $out"
exit $rc
