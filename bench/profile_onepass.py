"""Where the time of a `MicroBatchGrads(one_pass=True)` training step goes (issue 22, step 1), with `torch.profiler`.

    python bench/profile_onepass.py                   # xresnet18 32 px and the MLP, batch 128, micro-batches of 8
    python bench/profile_onepass.py --batches 6       # more profiled batches per configuration
    python bench/profile_onepass.py --nets vit convnext general   # issue 34: 09's ViT, timm's convnext_atto, the general rule

`--nets` picks the configurations: `xresnet` (xresnet18 with batch norm), `mlp`, `vit` (09's `vit_qk`, 24 px),
`convnext` (timm's `convnext_atto`, 32 px) and `general` (09's ViT with every layer rule taken away, so that each of its
Linear and LayerNorm modules takes the general rule: the general rule's cost by module kind, beside the `vit` rows).
The ViT and ConvNeXt rows add a column for the one pass with `wgrad_once=True`.

For each configuration it profiles a standard fastai `Adam` step, the loop of micro-batch passes and the one pass on
the same batches (one torch thread), and prints per training step:
- the phases, marked by two callbacks around fastai's events: forward (with the loss), backward (autograd, with the
  one pass's layer hooks, which run inside it), MicroBatchGrads' after_backward (the sums into the step's buffers),
  step (MicroBatchGrads' before_step and the optimizer), and the rest (zero_grad, callbacks, Python);
- inside them, the one pass's own work, marked by wrapping its functions: the layer hooks (the per-micro-batch weight
  gradients C_k of every rule), the squares and their weighted sum (`_add_squares`), and batch norm run once per
  micro-batch in the forward pass (`_bn_forward`);
- the 15 aten operators with the most self time.
Times are CPU times from the profiler (ms per step, mean over the profiled batches after one warm-up batch); the
profiler adds overhead of its own, so compare shares and ratios within one run, not with bench.py's timings."""
import argparse, functools, sys, time, warnings
warnings.filterwarnings('ignore')
import torch
from torch.profiler import profile, record_function, ProfilerActivity
from fastai.vision.all import *  # noqa: F401,F403
from fastai.optimizer import Adam
import fastai_bsi.one_pass as op
from fastai_bsi.optimizer import adam_bsi
from fastai_bsi.microbatch import MicroBatchGrads
from copy import deepcopy

# ------------------------------------------------------------------------------------ marks inside the one pass
def _marked(name, f):
    @functools.wraps(f)
    def g(*args, **kwargs):
        with record_function(name): return f(*args, **kwargs)
    return g

op.OnePassStats._bwd = _marked('onepass: layer hooks (C_k, squares)', op.OnePassStats._bwd)
op.OnePassStats._add_squares = _marked('onepass: squares and their sum', op.OnePassStats._add_squares)
op._bn_forward = _marked('onepass: batch norm per micro-batch (forward)', op._bn_forward)   # looked up when hooked
_rule0 = op.OnePassStats._rule
def _rule_marked(self, m, x, go, kappa):
    "Each rule's time under its own mark: 'onepass rule: <rule> (<module class>)'"
    r = 'general' if m in self.general else self.rules[m].__name__.lstrip('_')
    with record_function(f'onepass rule: {r} ({type(m).__name__})'): return _rule0(self, m, x, go, kappa)
op.OnePassStats._rule = _rule_marked

# ------------------------------------------------------------------------------------ phases around fastai events
class _Phases:
    def __init__(self): self.open = {}
    def enter(self, nm): r = record_function(nm); r.__enter__(); self.open[nm] = r
    def exit(self, nm):
        r = self.open.pop(nm, None)
        if r is not None: r.__exit__(None, None, None)
PH = _Phases()

class PhaseStart(Callback):
    order = -1000
    def before_batch(self): PH.enter('phase: forward + loss')
    def before_backward(self): PH.enter('phase: backward')
    def after_backward(self): PH.exit('phase: backward'); PH.enter('phase: MicroBatchGrads after_backward')
    def before_step(self): PH.enter('phase: step (before_step + optimizer)')

class PhaseEnd(Callback):
    order = 1000
    def after_loss(self): PH.exit('phase: forward + loss')
    def after_backward(self): PH.exit('phase: MicroBatchGrads after_backward')
    def after_step(self): PH.exit('phase: step (before_step + optimizer)')

class StopAfter(Callback):
    order = 1001
    def __init__(self, n): self.n,self.i = n,0
    def after_batch(self):
        self.i += 1
        if self.i >= self.n: raise CancelFitException()

# ------------------------------------------------------------------------------------ one configuration
def _dls(n, bs, sz):
    x = torch.randn(n, 3, sz, sz); y = torch.randint(0, 10, (n,))
    ds = [(x[i], y[i]) for i in range(n)]
    return DataLoaders(DataLoader(ds, bs=bs, shuffle=False, drop_last=True), DataLoader(ds[:bs], bs=bs))

def _mlp(sz=32): return nn.Sequential(nn.Flatten(), nn.Linear(3*sz*sz, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))

def run(model0, sz, bs, opt_func, cbs, n):
    "Profile `n` training batches after one warm-up; ms per batch of each mark, and the top operators"
    dls = _dls(bs*(n+2), bs, sz)
    learn = Learner(dls, deepcopy(model0), loss_func=CrossEntropyLossFlat(), opt_func=opt_func, cbs=cbs)
    with learn.no_logging(), learn.no_bar(): learn.fit(1, 1e-3, cbs=StopAfter(1))          # warm-up
    learn = Learner(dls, deepcopy(model0), loss_func=CrossEntropyLossFlat(), opt_func=opt_func, cbs=cbs)
    with learn.no_logging(), learn.no_bar(): learn.fit(1, 1e-3, cbs=StopAfter(1))          # its own warm-up batch
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with learn.no_logging(), learn.no_bar(): learn.fit(1, 1e-3, cbs=[PhaseStart(), PhaseEnd(), StopAfter(n)])
    wall = (time.perf_counter()-t0)/n*1e3
    ka = prof.key_averages()
    marks = {e.key: e.cpu_time_total/1e3/n for e in ka if e.key.startswith(('phase:', 'onepass:', 'onepass rule:'))}
    ops = sorted([e for e in ka if e.key.startswith('aten::')], key=lambda e: -e.self_cpu_time_total)[:15]
    return wall, marks, [(e.key, e.self_cpu_time_total/1e3/n, e.count//n) for e in ops]

def report(title, model0, sz, bs, micro, n, once=False, general=False):
    "One configuration: Adam, the loop, the one pass (and with `once` the one pass with `wgrad_once=True`); `general`: no layer rules"
    print(f"\n== {title}, {sz} px, batch {bs}, micro-batches of {micro} " + '='*max(0, 60-len(title)))
    rule_of = op._rule_of
    if general: op._rule_of = lambda m: None           # every module with parameters of its own takes the general rule
    try:
        res = {'Adam': run(model0, sz, bs, Adam, [], n),
               'loop': run(model0, sz, bs, adam_bsi, [MicroBatchGrads(micro_bs=micro)], n),
               'one pass': run(model0, sz, bs, adam_bsi, [MicroBatchGrads(micro_bs=micro, one_pass=True)], n)}
        if once: res['wgrad_once'] = run(model0, sz, bs, adam_bsi, [MicroBatchGrads(micro_bs=micro, one_pass=True, wgrad_once=True)], n)
    finally: op._rule_of = rule_of
    names = ['phase: forward + loss', 'onepass: batch norm per micro-batch (forward)', 'phase: backward',
             'onepass: layer hooks (C_k, squares)', 'onepass: squares and their sum', 'phase: MicroBatchGrads after_backward',
             'phase: step (before_step + optimizer)']
    rules = sorted({k for v in res.values() for k in v[1] if k.startswith('onepass rule:')})
    print(f"{'ms per step':>48s} " + ' '.join(f'{k:>10s}' for k in res))
    print(f"{'wall time (profiled)':>48s} " + ' '.join(f'{v[0]:10.1f}' for v in res.values()))
    for nm in names + rules:
        print(f"{nm[-48:]:>48s} " + ' '.join(f"{v[1].get(nm, 0.):10.1f}" for v in res.values()))
    for k,(w,m,_) in res.items():
        ph = sum(m.get(nm, 0.) for nm in names if nm.startswith('phase:'))
        print(f"{'rest (zero_grad, callbacks, Python), ' + k:>48s} {w-ph:10.1f}")
    for k in ('Adam', 'one pass'):
        print(f"\n  top operators by self CPU time, {k} (ms per step, calls per step):")
        for nm,t,c in res[k][2]: print(f"    {nm:40s} {t:8.1f} {c:6d}")
    return res

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--batches', type=int, default=3, help='profiled training batches per configuration')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--nets', nargs='+', choices=['xresnet', 'mlp', 'vit', 'convnext', 'general'], default=['xresnet', 'mlp'])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    import platform, os
    try: cpu = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores; torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"{a.batches} profiled batches per configuration")
    if 'xresnet' in a.nets: torch.manual_seed(0); report('xresnet18 (batch norm)', xresnet18(n_out=10), 32, 128, 8, a.batches)
    if 'mlp' in a.nets: torch.manual_seed(0); report('MLP 3072-512-512-10', _mlp(32), 32, 128, 8, a.batches)
    if 'vit' in a.nets or 'general' in a.nets: from fastai_bsi.runs import vit_qk
    if 'vit' in a.nets: torch.manual_seed(0); report("09 ViT (vit_qk)", vit_qk(size=24, n_out=10), 24, 128, 8, a.batches, once=True)
    if 'convnext' in a.nets:
        import timm
        torch.manual_seed(0); report('timm convnext_atto', timm.create_model('convnext_atto', pretrained=False, num_classes=10), 32, 128, 8, a.batches, once=True)
    if 'general' in a.nets:
        torch.manual_seed(0); report("09 ViT, every module by the general rule", vit_qk(size=24, n_out=10), 24, 128, 8, a.batches, general=True)

if __name__ == '__main__': main()
