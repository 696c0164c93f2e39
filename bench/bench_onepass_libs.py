"""Per-sample squared gradients: fastai_bsi's one pass against BackPACK and Opacus, on this torch.

    pip install --target /tmp/extlibs --no-deps backpack-for-pytorch opacus einops unfoldNd opt-einsum
    PYTHONPATH=/tmp/extlibs python bench/bench_onepass_libs.py

Neither library is a dependency of fastai_bsi: this script answers issue 14's question whether one of them should do
the per-layer part. For micro-batches of one sample (the only size either supports: both compute per-sample
quantities), each computes sum_b g_b^2 over a batch, where g_b is sample b's gradient: fastai_bsi's `OnePassStats`,
BackPACK's `SumGradSquared` extension (one backward pass with its extension), and Opacus' `GradSampleModule` (the
per-sample gradients `p.grad_sample` materialised, then squared and summed). Each is checked against plain autograd,
one sample at a time, and timed (median of interleaved repeats, one torch thread) against the same forward and
backward pass without statistics."""
import statistics, time, warnings, sys
warnings.filterwarnings('ignore')
import torch, torch.nn as nn
torch.set_num_threads(1)
sys.path.insert(0, '.')
from fastai_bsi.one_pass import OnePassStats
from fastai_bsi.experiments import bn_to_gn
from fastai.vision.models.xresnet import xresnet18

def nets():
    return {'MLP 3072-512-512-10': (lambda: nn.Sequential(nn.Flatten(), nn.Linear(3072, 512), nn.ReLU(), nn.Linear(512, 512),
                                                             nn.ReLU(), nn.Linear(512, 10))),
            'GroupNorm xresnet18 (widen 0.25)': (lambda: bn_to_gn(xresnet18(n_out=10, widen=0.25)))}

def reference(model, x, y, lf):
    ps = [p for p in model.parameters() if p.requires_grad]
    out = [torch.zeros_like(p) for p in ps]
    for b in range(len(x)):
        for o,g in zip(out, torch.autograd.grad(lf(model(x[b:b+1]), y[b:b+1]), ps)): o += g*g
    return out

def ours(model, x, y, lf):
    st = OnePassStats(model); st.start([1]*len(x))
    lf(model(x), y).backward(); st.remove()
    return [st.sq[p] for p in model.parameters()]

def backpack_sgs(model, x, y, lf):
    from backpack import backpack, extend
    from backpack.extensions import SumGradSquared
    m,l = extend(model),extend(nn.CrossEntropyLoss())
    loss = l(m(x), y)
    with backpack(SumGradSquared()): loss.backward()
    return [p.sum_grad_squared*len(x)**2 for p in m.parameters()]        # BackPACK's are of the mean loss: 1/B each

def opacus_gs(model, x, y, lf, _cache={}):
    from opacus import GradSampleModule
    if id(model) not in _cache: _cache[id(model)] = GradSampleModule(model, loss_reduction='mean')
    gm = _cache[id(model)]
    lf(gm(x), y).backward()
    res = [p.grad_sample.square().sum(0) for p in model.parameters()]   # loss_reduction='mean': of each sample's loss
    for p in model.parameters(): p.grad_sample = None
    return res

def plain(model, x, y, lf): lf(model(x), y).backward(); return None

def main(B=128, rounds=5):
    import platform, os
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, 1 torch thread")
    lf = nn.CrossEntropyLoss()
    torch.manual_seed(0)
    x,y = torch.randn(B, 3, 32, 32),torch.randint(0, 10, (B,))
    for nm,mk in nets().items():
        print(f"\n== {nm}, batch {B}, per-sample squared gradients")
        torch.manual_seed(0); model0 = mk()
        ref = reference(model0, x, y, lf)
        cands = dict(plain=plain, one_pass=ours, backpack=backpack_sgs, opacus=opacus_gs)
        models = {k: __import__('copy').deepcopy(model0) for k in cands}
        ok = {}
        for k,f in cands.items():
            m = models[k]; m.zero_grad()
            try:
                r = f(m, x, y, lf)
                if r is not None:
                    err = max(((a-b).abs().max()/b.abs().max().clamp_min(1e-30)).item() for a,b in zip(r, ref))
                    print(f"  {k:10s} max relative error against autograd, sample by sample: {err:.1e}")
                ok[k] = True
            except Exception as e:
                print(f"  {k:10s} failed: {type(e).__name__}: {str(e)[:150]}"); ok[k] = False
        ts = {k: [] for k in cands if ok[k]}
        for _ in range(rounds):
            for k in ts:
                m = models[k]; m.zero_grad()
                t0 = time.perf_counter(); cands[k](m, x, y, lf); ts[k].append(time.perf_counter()-t0)
        med = {k: statistics.median(v) for k,v in ts.items()}
        for k,v in med.items(): print(f"  {k:10s} {v*1e3:8.1f} ms  ({v/med['plain']:.2f}x the plain forward+backward)")

if __name__ == '__main__': main()
