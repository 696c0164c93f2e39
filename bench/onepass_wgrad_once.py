"""The one pass with each weight gradient computed once (`MicroBatchGrads(..., one_pass=True, wgrad_once=True)`) against autograd's (`wgrad_once=False`).

    python bench/onepass_wgrad_once.py [--device cpu|cuda] [--rounds 3] [--batches 3] [--micro 8 32] [--px 32]

Issue 22, step 3: with `wgrad_once`, Linear and convolution layers run through `_WGradOnce`, whose backward computes
the input gradient and returns the sums of the per-micro-batch C_k as weight gradients, so autograd computes no
weight gradient of its own. xresnet18 (batch norm) and the MLP of bench.py at 32 px, batch 128, one torch thread:
median step time of `MicroBatchGrads(micro_bs=M, one_pass=True)` either way, and the ratio to a standard fastai Adam
step, interleaved in rounds. (Issue 34 made the choice per layer, `wgrad_once='auto'`, the default: see 01c_one_pass and
`bench.py --only onepass`, whose ViT and ConvNeXt rows time all three.)"""
import sys, argparse, statistics, functools, torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from bench import _dls, _time_fit, _mlp, machine
from fastai.vision.all import *
from fastai_bsi.all import *

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--rounds', type=int, default=3); ap.add_argument('--batches', type=int, default=3)
    ap.add_argument('--micro', type=int, nargs='+', default=[8, 32]); ap.add_argument('--device', default='cpu')
    ap.add_argument('--px', type=int, default=32)
    a = ap.parse_args()
    dev = torch.device(a.device)
    if dev.type=='cpu': torch.set_num_threads(1)
    machine()
    print(f"{'net':>10s} {'micro':>6s} {'Adam s':>8s} {'autograd wgrad':>16s} {'wgrad once':>16s} {'once/autograd':>14s}")
    for nm,mk in (('xresnet18', lambda: xresnet18(n_out=10)), ('MLP', lambda: _mlp(sz=a.px))):
        torch.manual_seed(0); model0 = mk().to(dev)
        dls = _dls(128*(a.batches+1), 128, a.px, dev)
        for m in a.micro:
            res = {}
            for _ in range(a.rounds):
                res.setdefault('adam', []).extend(_time_fit(model0, dls, Adam, [], a.batches+1, dev))
                for once in (False, True):
                    res.setdefault(once, []).extend(_time_fit(model0, dls, adam_bsi, [MicroBatchGrads(micro_bs=m, one_pass=True, wgrad_once=once)], a.batches+1, dev))
            b,f,t = (statistics.median(res[k]) for k in ('adam', False, True))
            print(f"{nm:>10s} {m:6d} {b:8.3f} {f:8.3f} {f/b:6.2f}x {t:8.3f} {t/b:6.2f}x {t/f:13.2f}x", flush=True)

if __name__ == '__main__': main()
