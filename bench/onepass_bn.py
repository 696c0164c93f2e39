"""The one pass's batch norm per micro-batch: the loop of the layer's own forward against one call per run (issue 22, step 2).

    python bench/onepass_bn.py [--device cpu|cuda] [--rounds 2] [--batches 2]

xresnet18 (batch norm), batch 128, at 32 and 64 px and micro-batches of 8 and 32: the median step time of
`MicroBatchGrads(micro_bs=M, one_pass=True)` with batch norm's micro-batches done either way (`_bn_per_micro`'s
`vectorised`), and the ratio to a standard fastai Adam step, interleaved in rounds. The library picks the loop on
CPUs and the one call on GPUs."""
import sys, argparse, statistics, functools, torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from bench import _dls, _time_fit, machine
from fastai.vision.all import *
from fastai_bsi.all import *
import fastai_bsi.one_pass as op

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--rounds', type=int, default=2); ap.add_argument('--batches', type=int, default=2)
    ap.add_argument('--device', default='cpu'); ap.add_argument('--px', type=int, nargs='+', default=[32, 64])
    ap.add_argument('--micro', type=int, nargs='+', default=[8, 32])
    a = ap.parse_args()
    dev = torch.device(a.device)
    if dev.type=='cpu': torch.set_num_threads(1)
    machine()
    orig = op._bn_forward
    def with_vec(vec):
        def f(m, stats, x):
            if not ((m.training or not m.track_running_stats) and stats.active and stats.alive() and x.shape[0]==sum(stats.sizes)):
                return type(m).forward(m, x)
            return op._bn_per_micro(m, stats.sizes, x, vectorised=vec)
        return f
    print(f"{'px':>4s} {'micro':>6s} {'Adam s':>8s} {'loop':>16s} {'one call':>16s} {'one call/loop':>14s}")
    try:
        for px in a.px:
            torch.manual_seed(0); model0 = xresnet18(n_out=10).to(dev)
            dls = _dls(128*(a.batches+1), 128, px, dev)
            for m in a.micro:
                res = {}
                for _ in range(a.rounds):
                    res.setdefault('adam', []).extend(_time_fit(model0, dls, Adam, [], a.batches+1, dev))
                    for vec in (False, True):
                        op._bn_forward = with_vec(vec)      # OnePassStats binds it when the fit starts
                        res.setdefault(vec, []).extend(_time_fit(model0, dls, adam_bsi, [MicroBatchGrads(micro_bs=m, one_pass=True)], a.batches+1, dev))
                b,l,v = (statistics.median(res[k]) for k in ('adam', False, True))
                print(f"{px:4d} {m:6d} {b:8.3f} {l:8.3f} {l/b:6.2f}x {v:8.3f} {v/b:6.2f}x {v/l:13.2f}x", flush=True)
    finally: op._bn_forward = orig

if __name__ == '__main__': main()
