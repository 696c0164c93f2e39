"""The GPU check: every CUDA path of fastai_bsi against the readable steppers, then bench.py's sections on the GPU.

    bash bench/gpu_check.sh            # on a machine with a GPU (installs fastai from .whl/ if it is missing)
    bash bench/gpu_check.sh --dry      # the same code on the CPU at tiny sizes, in well under a minute (CI runs it)

1. Paths: `adam_bsi` (AdamW and L2) and `lamb_bsi` (with and without a binding trust-ratio cap), on float32 and
   bfloat16 parameters, several steps on identical inputs through the fused kernels (`compiled=True`:
   `torch.compile`/Triton on CUDA, the C++ kernels on the CPU), the foreach path (`compiled=False`) and the
   readable steppers (`foreach=False`), each against the readable steppers run in float64 on the same rounded
   inputs. The error is reported relative to the size of the update, so a wrong formula shows as about 1.
2. Fold: `fold_pass` against its literal formula, and `MicroBatchGrads(fold=True)` against `fold=False` on a
   small batch-norm CNN trained on the device (split and accumulate mode), in float64.
   One pass: `OnePassStats` (on CUDA its conv rule is one grouped weight-gradient convolution, which no CPU run
   takes) against per-micro-batch autograd, float64, equal, per-sample and ragged micro-batches.
3. bench.py sections 1-5 (optimizer step, training step, memory, single pass, one pass) on the device, against
   torch's fused AdamW and fastai's optimizers, and a summary.

Exits with status 1 if a check fails (the benchmarks still run and print)."""
import argparse, os, sys, time, warnings
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fastai.vision.all import *         # noqa: E402,F401,F403
import bench                            # noqa: E402  (bench.py beside this file: its sections and helpers)
from bench import torch, nn, hr, deepcopy  # noqa: E402
from functools import partial           # noqa: E402
from fastai_bsi.optimizer import adam_bsi, lamb_bsi, BSIWarning                 # noqa: E402
from fastai_bsi.microbatch import MicroBatchGrads                               # noqa: E402
import fastai_bsi.kernels as K                                                  # noqa: E402

warnings.filterwarnings('ignore', category=BSIWarning)
CHECKS = []                             # (what, measured, limit, ok)

def record(what, v, limit, ok=None):
    "Print and keep one check: `v <= limit` unless `ok` is given (then `limit` is a text that says what passes)"
    ok = v <= limit if ok is None else ok
    CHECKS.append((what, v, limit, ok)); _show(CHECKS[-1])

def _show(c):
    what,v,limit,ok = c
    print(f"{'ok  ' if ok else 'FAIL'} {what:72s} {v:9.3g}  ({'limit %.0e' % limit if not isinstance(limit, str) else limit})")

# ---------------------------------------------------------------------------------------------------- 1. paths
SHAPES = [(64, 32), (257,), (3, 5, 7), (1,), (40, 30), (4096,)]

def _inputs(n_steps, seed=0):
    "Float64 weights and per-step gradients and micro-batch squares, on the CPU (the same for every path)"
    g = torch.Generator().manual_seed(seed)
    w0 = [torch.randn(s, generator=g, dtype=torch.float64)*0.05 for s in SHAPES]
    steps = []
    for _ in range(n_steps):
        gs = [torch.randn(s, generator=g, dtype=torch.float64)*1e-2 for s in SHAPES]
        steps.append([(o, o*o*(1 + torch.rand(o.shape, generator=g, dtype=torch.float64))) for o in gs])
    return w0, steps

def _params(w0, dev, dtype):
    ps = [w.to(dev, dtype, copy=True) for w in w0]
    ps[4] = ps[4].t().contiguous().t()                     # not contiguous: the fused kernels leave it to foreach
    return [p.requires_grad_() for p in ps]

def _run(opt_func, w0, steps, dev, dtype, lr=(1e-2, 3e-3), **kw):
    ps = _params(w0, dev, dtype)
    opt = opt_func([ps[:3], ps[3:]], lr=list(lr), **kw)
    paths = {'fused': 0, 'foreach': 0}
    for st in steps:
        for p,(g,s) in zip(ps, st):
            g = g.to(dev, dtype, copy=True)                       # L2 adds to p.grad and p.sqr_grad in place
            p.grad = g.t().contiguous().t() if not p.is_contiguous() else g
            p.sqr_grad = s.to(dev, dtype, copy=True)
        opt.step()
        for k in paths: paths[k] += getattr(opt, 'last_paths', {}).get(k, 0)
    return [p.detach().double().cpu() for p in ps], [{k: v.double().cpu() for k,v in opt.state[p].items() if k in ('grad_avg', 'sqr_avg')} for p in ps], paths

def check_paths(dev, n_steps=5):
    hr(f"A. every path against the readable steppers in float64 ({dev.type}), {n_steps} steps")
    limit = {torch.float32: 1e-3, torch.bfloat16: 1e-1}
    cases = [('adam_bsi', adam_bsi, dict(wd=0.01)), ('adam_bsi L2', adam_bsi, dict(wd=0.01, decouple_wd=False)),
             ('lamb_bsi', lamb_bsi, dict(wd=0.01, lr=(1e-1, 3e-2))),              # LAMB steps are relative: large
             ('lamb_bsi cap 0.3', lamb_bsi, dict(wd=0.01, max_trust=0.3, lr=(1e-1, 3e-2)))]  # enough to be seen in bf16
    for dtype in (torch.float32, torch.bfloat16):
        w0, steps = _inputs(n_steps)
        w0 = [w.to(dtype).double() for w in w0]                                  # inputs the low precision can hold
        steps = [[(g.to(dtype).double(), s.to(dtype).double()) for g,s in st] for st in steps]
        for nm,f,kw in cases:
            ref,ref_st,_ = _run(f, w0, steps, dev, torch.float64, foreach=False, **kw)
            upd = max((r-w).abs().max().item() for r,w in zip(ref, w0))
            for path,pkw in (('fused', dict(compiled=True)), ('foreach', dict(compiled=False)), ('readable', dict(foreach=False))):
                t0 = time.perf_counter()
                ws,sts,paths = _run(f, w0, steps, dev, dtype, **pkw, **kw)
                dw = max((a-b).abs().max().item() for a,b in zip(ws, ref))/upd
                dm = max(((a[k]-b[k]).abs().max()/b[k].abs().max().clamp_min(1e-30)).item() for a,b in zip(sts, ref_st) for k in b)
                what = f"{nm:16s} {str(dtype)[6:]:8s} {path:8s} |dw|/|update|, moments rel."
                record(what, max(dw, dm), limit[dtype])
                if path=='fused':
                    want = dev.type=='cuda' or dtype!=torch.bfloat16     # the C++ kernels take float32/64 only
                    print(f"     paths taken {paths}, {time.perf_counter()-t0:.1f}s (includes compiling the first time)")
                    if want: record(f"{nm:16s} {str(dtype)[6:]:8s} tensors through the fused kernels",
                                    paths['fused'], '> 0, none fell back', ok=paths['fused'] > 0 and dev.type not in K._compile_broken)

# ---------------------------------------------------------------------------------------------------- 2. fold
def _cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

def _fit(dev, cbs, bs, n=64):
    g = torch.Generator().manual_seed(0)
    x,y = torch.randn(n, 3, 8, 8, generator=g, dtype=torch.float64),torch.randint(0, 10, (n,), generator=g)
    ds = list(zip(x, y))
    dls = DataLoaders(DataLoader(ds, bs=bs, device=dev), DataLoader(ds[:16], bs=16, device=dev))
    torch.manual_seed(0)
    learn = Learner(dls, _cnn().double(), CrossEntropyLossFlat(), opt_func=partial(adam_bsi, wd=0.05, decouple_wd=False),
                    lr=1e-2, cbs=cbs)
    with learn.no_logging(), learn.no_bar(): learn.fit(2)
    return [p.detach().cpu() for p in learn.model.parameters()]

def check_fold(dev):
    hr(f"B. folding ({dev.type})")
    for dtype,lim in ((torch.float32, 1e-6), (torch.bfloat16, 2e-2)):
        torch.manual_seed(0)
        mk = lambda f: [f(n).to(dev, dtype) for n in (7, 40000)]
        ps,gs,as_,qs = mk(torch.randn),mk(torch.randn),mk(torch.randn),mk(torch.rand)
        for over in (False, True):
            a,q = [o.clone() for o in as_],[o.clone() for o in qs]
            K.fold_pass(ps, gs, a, q, 0.9, 0.99, 0.05, 0.003, l2=0.3, over=over)
            err = 0.
            for p,g,a0,q0,a1,q1 in zip(ps, gs, as_, qs, a, q):
                G = g.double() + 0.3*p.double()
                ra,rq = (0.05*G, 0.003*G*G) if over else (0.9*a0.double() + 0.05*G, 0.99*q0.double() + 0.003*G*G)
                err = max(err, ((a1.double()-ra).abs().max()/ra.abs().max()).item(), ((q1.double()-rq).abs().max()/rq.abs().max()).item())
            record(f"fold_pass {str(dtype)[6:]:8s} over={over!s:5s} against its formula, rel.", err, lim)
    for nm,kw,bs in (('split', dict(micro_bs=4), 16), ('accumulate', dict(n_acc=4), 4)):
        ref = _fit(dev, MicroBatchGrads(**kw), bs)
        new = _fit(dev, MicroBatchGrads(fold=True, **kw), bs)
        err = max((a-b).abs().max().item() for a,b in zip(ref, new))
        record(f"MicroBatchGrads(fold=True) vs fold=False, {nm} mode, float64, 2 epochs, max |dw|", err, 1e-9)

# ---------------------------------------------------------------------------------------------------- 3. one pass
def check_one_pass(dev):
    "`OnePassStats` (the GPU's grouped-convolution rule included) against per-micro-batch autograd, in float64"
    from fastai_bsi.one_pass import OnePassStats
    hr(f"C. one pass against per-micro-batch autograd ({dev.type}), float64")
    nets = {'BN CNN (grouped, strided conv)': (lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3, stride=2, groups=2), nn.BatchNorm2d(8), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)), lambda B: torch.randn(B, 3, 12, 12)),
            'Conv1d + GroupNorm': (lambda: nn.Sequential(nn.Conv1d(3, 4, 3, dilation=2), nn.GroupNorm(2, 4), nn.ReLU(),
                nn.Flatten(), nn.Linear(16, 3)), lambda B: torch.randn(B, 3, 8)),
            'MLP': (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3)), lambda B: torch.randn(B, 12))}
    lf = nn.CrossEntropyLoss()
    for nm,(mk,mkx) in nets.items():
        for sizes in ([8]*4, [1]*8, [5, 5, 4]):
            torch.manual_seed(0); model = mk().double().to(dev); B = sum(sizes)
            x,y = mkx(B).double().to(dev),torch.randint(0, 3, (B,), device=dev)
            ref = deepcopy(model); ps_ref = list(ref.parameters())
            gs,s0 = [],0
            for n in sizes:
                gs.append((n, torch.autograd.grad(lf(ref(x[s0:s0+n]), y[s0:s0+n]), ps_ref))); s0 += n
            st = OnePassStats(model); st.start(sizes)
            lf(model(x), y).backward(); st.remove()
            rqs = [sum(n*g[i]**2 for n,g in gs)/B for i in range(len(ps_ref))]
            scale = max(r.abs().max().item() for r in rqs)    # (a conv bias before batch norm has a zero gradient)
            err = max((st.sq[p]/B - r).abs().max().item() for p,r in zip(model.parameters(), rqs))/scale
            record(f"one pass {nm:30s} sizes {str(sizes):14s} sum n_k g_k^2, rel.", err, 1e-9)

# ---------------------------------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dry', action='store_true', help="the same code on the CPU at tiny sizes (what CI runs)")
    ap.add_argument('--no-bench', action='store_true', help="the checks only")
    a = ap.parse_args()
    t0 = time.perf_counter()
    gpu = bench.machine()
    if a.dry: dev = torch.device('cpu'); torch.set_num_threads(1)       # as bench.py: stable on a small machine
    elif gpu: dev = torch.device('cuda')
    else: sys.exit("no GPU here: run `bash bench/gpu_check.sh --dry` for the CPU dry run")
    print(f"mode    : {'DRY RUN on the CPU, tiny sizes (numbers mean nothing)' if a.dry else 'full, on ' + torch.cuda.get_device_name(0)}")
    check_paths(dev)
    check_fold(dev)
    check_one_pass(dev)
    print(f"\nchecks done after {time.perf_counter()-t0:.0f}s")
    summary = []
    if not a.no_bench:
        args = bench.parser().parse_args([])
        if a.dry:
            args.rounds,args.img_size,args.train_batches,args.train_rounds,args.train_bs,args.train_micro = 1,16,1,1,[16],[8]
            args.op_px,args.op_micro = [16],[8]
            tiny = partial(XResNet, ResBlock, 1, [1, 1, 1, 1], widen=0.25)          # an xresnet10 a quarter wide
            summary = bench.run_sections([dev], args, step_arch=tiny, arch=tiny, single_bs=16, mem=(4, 2, 1))
        else: summary = bench.run_sections([dev], args)
        bench.print_summary(summary)
    hr("checks")
    for c in CHECKS: _show(c)
    bad = sum(not o[3] for o in CHECKS)
    print(f"\n{len(CHECKS)-bad} checks passed, {bad} failed; {time.perf_counter()-t0:.0f}s in all on {dev.type}")
    sys.exit(1 if bad else 0)

if __name__ == '__main__': main()
