"""What `GradientNoiseScale` costs: the same BSI training step with and without it, and fold mode's memory.

    python bench/bench_gns.py                  # both sections, CPU (and CUDA first when a GPU is present); ~5 min on 2 cores
    python bench/bench_gns.py --only train     # 1. training step, xresnet18 on 32x32 images (bench.py's `--only train` setup)
    python bench/bench_gns.py --only memory    # 2. peak bytes of params + grads + state + buffers, 4 accumulated micro-batches

1. Training step: `MicroBatchGrads(micro_bs=m)` + `adam_bsi` with and without `GradientNoiseScale`, in the default and
   in fold mode (target: <= 3% more time), and in fold mode with `GradientNoiseScale(every=4)` (one step in four). Timings are medians of per-batch times over interleaved runs (the
   candidates take turns), so background load hits all of them alike.
2. Memory: fold mode keeps one running sum per trainable parameter for the noise scale; this measures it against
   fold mode without it, the default mode, and fastai's `Adam` + `GradientAccumulation`.
Not part of the tests (nbdev-test only runs the notebooks)."""
import argparse, os, statistics, sys, time, warnings
warnings.filterwarnings('ignore', category=FutureWarning)
warnings.filterwarnings('ignore', category=UserWarning, module='torch')

import torch
from fastai.vision.all import *  # noqa: F401,F403  (Learner, DataLoaders, xresnet18, Adam, GradientAccumulation...)
from fastai.optimizer import Adam
from fastai.callback.training import GradientAccumulation
from fastai_bsi.optimizer import adam_bsi, BSIWarning
from fastai_bsi.microbatch import MicroBatchGrads
from fastai_bsi.noise_scale import GradientNoiseScale
from copy import deepcopy   # after the star import, which brings its own `copy`
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import hr, machine, sync, BatchTimer, _dls, _time_fit, LiveBytes   # bench.py's helpers, the same measurements

warnings.filterwarnings('ignore', category=BSIWarning)

def bench_train(dev, sz, bss, micros, n_batches, rounds):
    hr(f"1. training step with and without GradientNoiseScale ({dev.type}), xresnet18 on {sz}x{sz} images, 10 classes")
    torch.manual_seed(0)
    model0 = xresnet18(n_out=10).to(dev)
    print(f"xresnet18: {sum(p.numel() for p in model0.parameters())/1e6:.1f}M parameters; {n_batches} timed batches "
          f"per run after one warm-up, {rounds} interleaved rounds; medians of the per-batch times")
    print(f"\n{'mini-batch':>10s} {'micro':>6s} {'kappa':>6s} {'BSI s':>8s} {'BSI+GNS s':>10s} {'fold s':>8s} "
          f"{'fold+GNS s':>11s} {'fold+GNS/4 s':>12s} {'GNS cost':>9s} {'GNS cost, fold':>15s} {'fold, every=4':>14s}")
    res = {}
    for bs in bss:
        dls = _dls(bs*(n_batches+1), bs, sz, dev)
        for m in micros:
            cands = {'bsi': lambda: [MicroBatchGrads(micro_bs=m)],
                     'bsi_gns': lambda: [MicroBatchGrads(micro_bs=m), GradientNoiseScale()],
                     'fold': lambda: [MicroBatchGrads(micro_bs=m, fold=True)],
                     'fold_gns': lambda: [MicroBatchGrads(micro_bs=m, fold=True), GradientNoiseScale()],
                     'fold_gns4': lambda: [MicroBatchGrads(micro_bs=m, fold=True), GradientNoiseScale(every=4)]}
            ts = {k: [] for k in cands}
            for r in range(rounds):
                order = list(cands) if r % 2 == 0 else list(cands)[::-1]    # alternate who goes first
                for k in order: ts[k] += _time_fit(model0, dls, adam_bsi, cands[k](), n_batches+1, dev)
            t = {k: statistics.median(v) for k,v in ts.items()}
            res[(bs, m)] = (t['bsi_gns']/t['bsi'], t['fold_gns']/t['fold'], t['fold_gns4']/t['fold'])
            print(f"{bs:10d} {m:6d} {bs//m:6d} {t['bsi']:8.3f} {t['bsi_gns']:10.3f} {t['fold']:8.3f} {t['fold_gns']:11.3f} "
                  f"{t['fold_gns4']:12.3f} {100*(res[(bs,m)][0]-1):+8.1f}% {100*(res[(bs,m)][1]-1):+14.1f}% {100*(res[(bs,m)][2]-1):+13.1f}%")
    return res

def bench_memory(dev, sz, micro, kappa, n_steps):
    hr(f"2. memory ({dev.type}): accumulating kappa={kappa} micro-batches of {micro} (mini-batch {micro*kappa})")
    torch.manual_seed(0)
    model0 = xresnet18(n_out=10).to(dev)
    P = sum(p.numel()*p.element_size() for p in model0.parameters())
    dls = _dls(micro*kappa*n_steps, micro, sz, dev)
    out = {}
    for nm,opt_func,cbs in (('fastai Adam + GradientAccumulation', Adam, lambda: [GradientAccumulation(micro*kappa)]),
                            ('MicroBatchGrads(n_acc)', adam_bsi, lambda: [MicroBatchGrads(n_acc=kappa)]),
                            ('MicroBatchGrads(n_acc) + GNS', adam_bsi, lambda: [MicroBatchGrads(n_acc=kappa), GradientNoiseScale()]),
                            ('MicroBatchGrads(n_acc, fold)', adam_bsi, lambda: [MicroBatchGrads(n_acc=kappa, fold=True)]),
                            ('MicroBatchGrads(n_acc, fold) + GNS', adam_bsi, lambda: [MicroBatchGrads(n_acc=kappa, fold=True), GradientNoiseScale()])):
        learn = Learner(dls, deepcopy(model0), loss_func=CrossEntropyLossFlat(), opt_func=opt_func, cbs=cbs())
        lb = LiveBytes()
        if dev.type=='cuda': torch.cuda.reset_peak_memory_stats()
        with learn.no_logging(), learn.no_bar(): learn.fit(1, 1e-3, cbs=lb)
        gpu = f", CUDA max_memory_allocated {torch.cuda.max_memory_allocated()/2**20:.0f} MiB" if dev.type=='cuda' else ''
        out[nm] = lb.peak
        print(f"{nm:40s} peak {lb.peak/2**20:7.1f} MiB = {lb.peak/P:.2f} x parameter bytes{gpu}")
    base = out['fastai Adam + GradientAccumulation']
    print(f"against fastai Adam + GradientAccumulation: fold {out['MicroBatchGrads(n_acc, fold)']/base:.2f}x, fold + GNS "
          f"{out['MicroBatchGrads(n_acc, fold) + GNS']/base:.2f}x, default + GNS {out['MicroBatchGrads(n_acc) + GNS']/base:.2f}x "
          f"(parameters {P/2**20:.1f} MiB; activations not counted)")
    return out, base

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--only', choices=['train', 'memory'], default=None)
    ap.add_argument('--img-size', type=int, default=32)
    ap.add_argument('--train-batches', type=int, default=4)
    ap.add_argument('--train-rounds', type=int, default=6)
    ap.add_argument('--train-bs', type=int, nargs='+', default=[128], help="mini-batch sizes of the training step")
    ap.add_argument('--train-micro', type=int, nargs='+', default=[32, 16], help="micro-batch sizes of the training step")
    ap.add_argument('--device', default=None, help="cpu or cuda (default: cuda when available, and cpu)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gpu = machine()
    devs = [torch.device(args.device)] if args.device else ([torch.device('cuda')] if gpu else []) + [torch.device('cpu')]
    summary = []
    for dev in devs:
        if args.only in (None, 'train'):
            r = bench_train(dev, args.img_size, args.train_bs, args.train_micro, args.train_batches, args.train_rounds)
            for (bs,m),(v,vf,vf4) in r.items():
                px = f'{args.img_size}px, B={bs}, micro={m}'
                summary.append((dev.type, f'train step {px}: BSI+GNS / BSI', v, '<= 1.03x'))
                summary.append((dev.type, f'train step {px}: fold+GNS / fold', vf, '<= 1.03x'))
                summary.append((dev.type, f'train step {px}: fold+GNS(every=4) / fold', vf4, 'info'))
        if args.only in (None, 'memory'):
            out,base = bench_memory(dev, args.img_size, 32, 4, 2)
            summary.append((dev.type, 'peak memory, fold + GNS / fold (kappa=4)',
                            out['MicroBatchGrads(n_acc, fold) + GNS']/out['MicroBatchGrads(n_acc, fold)'], 'info'))
            summary.append((dev.type, 'peak memory, fold + GNS / fastai Adam + GradientAccumulation',
                            out['MicroBatchGrads(n_acc, fold) + GNS']/base, 'info'))
            summary.append((dev.type, 'peak memory, default + GNS / default (kappa=4)',
                            out['MicroBatchGrads(n_acc) + GNS']/out['MicroBatchGrads(n_acc)'], 'info'))
    if not gpu: summary.append(('cuda', 'GPU rows', float('nan'), 'not measured: no GPU available'))
    hr("summary (ratios measured in this run)")
    for d,k,v,tgt in summary: print(f"{d:5s} {k:66s} {v:7.3f}  target {tgt}")

if __name__ == '__main__': main()
