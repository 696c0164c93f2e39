"""The one pass's step time against `OnePassStats.max_numel` (values of the per-micro-batch sums C_k held at once).

    python bench/onepass_max_numel.py [--rounds 2] [--batches 3]

xresnet18 (batch norm) and the MLP of bench.py at 32 px, batch 128, micro-batches of 8, one torch thread: the median
step time of `MicroBatchGrads(micro_bs=8, one_pass=True)` for each `max_numel`, and its ratio to a standard fastai
Adam step, interleaved in rounds. Chose the default of `max_numel` (issue 22)."""
import sys, argparse, statistics, functools, torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from bench import _dls, _time_fit, _mlp, machine
from fastai.vision.all import *
from fastai_bsi.all import *
import fastai_bsi.one_pass as op

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--rounds', type=int, default=2); ap.add_argument('--batches', type=int, default=3)
    ap.add_argument('--sizes', type=int, nargs='+', default=[24, 22, 20, 18], help='log2 of the max_numel values')
    a = ap.parse_args()
    torch.set_num_threads(1); dev = torch.device('cpu')
    machine()
    orig = op.OnePassStats.__init__
    def with_max(n):
        @functools.wraps(orig)
        def init(self, model, max_numel=n, alive=None): orig(self, model, max_numel, alive)
        return init
    torch.manual_seed(0)
    print(f"{'net':>10s} {'Adam s':>8s} " + ' '.join(f"{'2^'+str(e):>14s}" for e in a.sizes))
    try:
        for nm,model0 in (('xresnet18', xresnet18(n_out=10)), ('MLP', _mlp(sz=32))):
            dls,res = _dls(128*(a.batches+1), 128, 32, dev),{}
            for _ in range(a.rounds):
                res.setdefault('adam', []).extend(_time_fit(model0, dls, Adam, [], a.batches+1, dev))
                for e in a.sizes:
                    op.OnePassStats.__init__ = with_max(2**e)
                    cb = MicroBatchGrads(micro_bs=8, one_pass=True)
                    res.setdefault(e, []).extend(_time_fit(model0, dls, adam_bsi, [cb], a.batches+1, dev))
            b = statistics.median(res['adam'])
            print(f"{nm:>10s} {b:8.3f} " + ' '.join(f"{statistics.median(res[e]):7.3f} {statistics.median(res[e])/b:5.2f}x" for e in a.sizes), flush=True)
    finally: op.OnePassStats.__init__ = orig

if __name__ == '__main__': main()
