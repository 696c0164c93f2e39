"""Performance benchmarks of fastai_bsi against what users would run instead, all measured in one run.

    python bench/bench.py                 # everything (about 10 minutes on 2 CPU cores)
    python bench/bench.py --only step     # one section: step, train, memory
    python bench/bench.py --threads 2     # torch threads (default 1: stable timings on a shared 2-core machine)

1. Optimizer step on the parameters of `xresnet50`: `adam_bsi`/`lamb_bsi` (default fast path, foreach path,
   readable steppers) against `torch.optim.AdamW(fused=True)` and fastai's `Adam`/`Lamb`; equality to the readable
   path; bytes per step against the measured `Tensor.copy_` bandwidth.
2. Training step with micro-batch statistics (`MicroBatchGrads` split mode + `adam_bsi`) against a standard
   fastai `Adam` step on the same mini-batch, and against the same micro-batch split without statistics.
3. Peak memory of parameters + gradients + optimizer state + accumulators: `MicroBatchGrads` accumulating over
   kappa micro-batches + `adam_bsi` against fastai `GradientAccumulation` + `Adam`.

Timings are medians over interleaved repeats (candidates take turns), so background load hits all of them alike.
Not part of the tests (nbdev-test only runs the notebooks)."""
import argparse, os, platform, statistics, sys, time, warnings
warnings.filterwarnings('ignore', category=FutureWarning)
warnings.filterwarnings('ignore', category=UserWarning, module='torch')

import torch
from fastai.vision.all import *  # noqa: F401,F403  (Learner, DataLoaders, xresnet, Adam, Lamb, GradientAccumulation...)
from fastai.optimizer import Adam, Lamb
from fastai.callback.training import GradientAccumulation
from fastai_bsi.optimizer import adam_bsi, lamb_bsi, BSIWarning
from fastai_bsi.kernels import COMPILE_MIN_NUMEL
from fastai_bsi.microbatch import MicroBatchGrads
from copy import deepcopy   # after the star import, which brings its own `copy`

warnings.filterwarnings('ignore', category=BSIWarning)


def hr(title): print(f"\n== {title} " + "="*max(0, 100-len(title)))

def machine():
    cpu = platform.processor()
    try:
        for l in open('/proc/cpuinfo'):
            if l.startswith('model name'): cpu = l.split(':', 1)[1].strip(); break
    except OSError: pass
    try: mem = os.sysconf('SC_PAGE_SIZE')*os.sysconf('SC_PHYS_PAGES')/2**30
    except (ValueError, OSError): mem = float('nan')
    import fastai, fastai_bsi
    print(f"machine : {platform.platform()}, {cpu}, {os.cpu_count()} logical CPUs, {mem:.0f} GiB RAM")
    print(f"load    : {os.getloadavg() if hasattr(os, 'getloadavg') else 'n/a'} (1/5/15 min load average at start)")
    print(f"software: python {platform.python_version()}, torch {torch.__version__}, fastai {fastai.__version__}, "
          f"fastai_bsi {fastai_bsi.__version__}, torch threads {torch.get_num_threads()}")
    gpu = torch.cuda.is_available()
    print(f"GPU     : {torch.cuda.get_device_name(0) if gpu else 'none available: every number below is CPU only'}")
    return gpu

def sync(dev):
    if dev.type=='cuda': torch.cuda.synchronize()

def interleaved(cands, rounds, dev, min_time=0.0):
    "Median seconds per call of each `cands[name]()`: the candidates take turns, `rounds` times"
    ts = {k: [] for k in cands}
    for _ in range(rounds):
        for k,f in cands.items():
            n,t = 0,0.
            while True:                     # repeat fast calls to `min_time` so timer overhead is negligible
                sync(dev); t0 = time.perf_counter(); f(); sync(dev); t += time.perf_counter()-t0; n += 1
                if t >= min_time: break
            ts[k].append(t/n)
    return {k: statistics.median(v) for k,v in ts.items()}

def copy_bandwidth(numel, dev, rounds=15):
    "GB/s of `Tensor.copy_` (bytes read + bytes written) on buffers of `numel` float32"
    a,b = torch.empty(numel, device=dev),torch.randn(numel, device=dev)
    for _ in range(3): a.copy_(b)
    t = interleaved({'copy': lambda: a.copy_(b)}, rounds, dev)['copy']
    return 2*4*numel/t/1e9

# ---------------------------------------------------------------------------------------------------- 1. step
def bench_step(dev, rounds, arch=xresnet50):
    hr(f"1. optimizer step on {getattr(arch, '__name__', 'model')} parameters ({dev.type})")
    torch.manual_seed(0)
    model = arch().to(dev)
    ps = list(model.parameters()); N = sum(p.numel() for p in ps)
    print(f"{len(ps)} tensors, {N/1e6:.2f}M values (float32); COMPILE_MIN_NUMEL={COMPILE_MIN_NUMEL}")
    gen = torch.Generator(device=dev).manual_seed(1)
    for p in ps:
        p.grad = torch.randn(p.shape, generator=gen, device=dev)*1e-3
        p.sqr_grad = p.grad*p.grad*(1 + torch.rand(p.shape, generator=gen, device=dev))
    mk = {
        'torch AdamW(fused=True)':   lambda: torch.optim.AdamW(ps, lr=1e-6, weight_decay=0.01, fused=True),
        'torch AdamW(foreach=True)': lambda: torch.optim.AdamW(ps, lr=1e-6, weight_decay=0.01, foreach=True),
        'fastai Adam':               lambda: Adam(ps, lr=1e-6, wd=0.01),
        'fastai Lamb':               lambda: Lamb(ps, lr=1e-6),
        'adam_bsi':                  lambda: adam_bsi(ps, lr=1e-6, wd=0.01),
        'adam_bsi (foreach path)':   lambda: adam_bsi(ps, lr=1e-6, wd=0.01, compiled=False),
        'adam_bsi (readable steppers)':    lambda: adam_bsi(ps, lr=1e-6, wd=0.01, foreach=False),
        'lamb_bsi':                  lambda: lamb_bsi(ps, lr=1e-6),
        'lamb_bsi (foreach path)':   lambda: lamb_bsi(ps, lr=1e-6, compiled=False),
        'lamb_bsi (readable steppers)':    lambda: lamb_bsi(ps, lr=1e-6, foreach=False),
    }
    opts,first = {},{}
    for k,f in mk.items():
        opts[k] = o = f()
        sync(dev); t0 = time.perf_counter(); o.step(); sync(dev); first[k] = time.perf_counter()-t0
        o.step()
    for k in ('adam_bsi', 'lamb_bsi'):
        print(f"{k}: first step {first[k]:.1f}s (includes building the kernels when not cached), paths {opts[k].last_paths}")
    t = interleaved({k: o.step for k,o in opts.items()}, rounds, dev, min_time=0.05)
    bw = copy_bandwidth(N, dev); bw_big = copy_bandwidth(2**26, dev)
    # values each step must read + write per parameter (float32): the floor for a memory-bound step
    must = {'torch AdamW(fused=True)': 7, 'adam_bsi': 8, 'lamb_bsi': 8}
    done = {'adam_bsi': 8, 'lamb_bsi': 11}   # what the compiled kernels move (LAMB: norms pass + update pass)
    print(f"copy_ bandwidth (read+write): {bw:.1f} GB/s at {N/1e6:.1f}M values, {bw_big:.1f} GB/s at 67M values")
    print(f"\n{'candidate':28s} {'ms/step':>9s} {'vs fused AdamW':>15s} {'vs fastai':>10s} {'bytes/step':>11s} {'eff. GB/s':>10s} {'% copy bw':>9s}")
    for k,v in t.items():
        ref = t['fastai Lamb'] if 'amb' in k else t['fastai Adam']
        nb = must.get(k)
        nbs = f"{nb*4*N/1e6:.0f} MB" if nb else ''
        eff = f"{nb*4*N/v/1e9:.1f}" if nb else ''
        pct = f"{100*nb*4*N/v/1e9/bw:.0f}%" if nb else ''
        print(f"{k:28s} {v*1e3:9.1f} {v/t['torch AdamW(fused=True)']:14.2f}x {ref/v:9.1f}x {nbs:>11s} {eff:>10s} {pct:>9s}")
    for k,n in done.items():
        print(f"{k}: its kernel moves {n} values/param = {n*4*N/1e6:.0f} MB; at copy_ bandwidth that takes "
              f"{n*4*N/bw/1e6:.1f} ms, measured {t[k]*1e3:.1f} ms ({n*4*N/t[k]/1e9/bw*100:.0f}% of copy bandwidth)")
    per = {k: t[k]/(n*N)*1e12 for k,n in (('torch AdamW(fused=True)', 7), *done.items())}
    print("ps per value read or written: " + ', '.join(f"{k} {v:.0f}" for k,v in per.items()))
    res = dict(adam_vs_fused=t['adam_bsi']/t['torch AdamW(fused=True)'], lamb_vs_fused=t['lamb_bsi']/t['torch AdamW(fused=True)'],
               adam_vs_fastai=t['fastai Adam']/t['adam_bsi'], lamb_vs_fastai=t['fastai Lamb']/t['lamb_bsi'],
               adam_pct_bw=8*4*N/t['adam_bsi']/1e9/bw, adam_compile_s=first['adam_bsi'], lamb_compile_s=first['lamb_bsi'])
    del opts, t
    # equality with the readable steppers, on the same parameters, several steps
    for nm,f in (('adam_bsi', adam_bsi), ('lamb_bsi', lamb_bsi)):
        for kw in ([dict(wd=0.01), dict(wd=0.01, decouple_wd=False)] if nm=='adam_bsi' else [dict(wd=0.01)]):
            outs = []
            for fe in (None, False):
                qs = [p.detach().clone().requires_grad_() for p in ps]
                o = f(qs, lr=1e-3, foreach=fe, **kw)
                g2 = torch.Generator(device=dev).manual_seed(2)
                for _ in range(3):
                    for q,p in zip(qs, ps):
                        q.grad = torch.randn(q.shape, generator=g2, device=dev)*1e-3
                        q.sqr_grad = q.grad*q.grad*(1 + torch.rand(q.shape, generator=g2, device=dev))
                    o.step()
                outs.append((qs, o.last_paths if fe is None else None))
            (a,paths),(b,_) = outs
            dw = max((x-y).abs().max().item() for x,y in zip(a, b))
            upd = max((y-p).abs().max().item() for y,p in zip(b, ps))
            print(f"{nm} {kw}: fast path {paths} vs readable after 3 steps: max |dw| = {dw:.2e} "
                  f"(largest update {upd:.2e}, ratio {dw/upd:.1e})")
            res[f'{nm}_{len(kw)}_maxdiff'] = dw/upd
            del a, b, outs
    return res

# ---------------------------------------------------------------------------------------------------- 2. train
class SplitBatch(Callback):
    "What users run without BSI when a batch is split: micro-batch forward/backward, gradients summed, one step"
    def __init__(self, micro_bs): self.micro_bs = micro_bs
    def before_fit(self): self.learn._do_one_batch = self._do_one_batch
    def after_fit(self): self.learn.__dict__.pop('_do_one_batch', None)
    def _do_one_batch(self):
        l = self.learn
        if not l.training: return type(l)._do_one_batch(l)
        xb,yb = l.xb,l.yb; bs = find_bs(yb)
        for i in range(0, bs, self.micro_bs):
            x,y = tuple(o[i:i+self.micro_bs] for o in xb),tuple(o[i:i+self.micro_bs] for o in yb)
            loss = l.loss_func(l.model(*x), *y)*(find_bs(y)/bs)
            loss.backward()
        l.loss = l.loss_grad = loss.detach()
        l._with_events(l._step, 'step', CancelStepException)
        l.opt.zero_grad()

class BatchTimer(Callback):
    "Seconds per training batch; stops the fit after `n` batches"
    order = -100
    def __init__(self, n, dev): self.n,self.dev,self.ts = n,dev,[]
    def before_batch(self): sync(self.dev); self.t0 = time.perf_counter()
    def after_batch(self):
        sync(self.dev); self.ts.append(time.perf_counter()-self.t0)
        if len(self.ts) >= self.n: raise CancelFitException()

def _dls(n, bs, sz, dev):
    x = torch.randn(n, 3, sz, sz); y = torch.randint(0, 10, (n,))
    ds = [(x[i], y[i]) for i in range(n)]
    return DataLoaders(DataLoader(ds, bs=bs, shuffle=False, drop_last=True, device=dev),
                       DataLoader(ds[:bs], bs=bs, device=dev))

def _time_fit(model0, dls, opt_func, cbs, n, dev):
    model = deepcopy(model0)
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), opt_func=opt_func, cbs=cbs)
    timer = BatchTimer(n, dev)
    with learn.no_logging(), learn.no_bar(): learn.fit(1, 1e-3, cbs=timer)
    return timer.ts[1:]     # the first batch warms up (allocations, torch.compile)

def bench_train(dev, sz, bss, micros, n_batches, rounds, arch=xresnet18):
    hr(f"2. training step with micro-batch statistics ({dev.type}), xresnet18 on {sz}x{sz} images, 10 classes")
    torch.manual_seed(0)
    model0 = arch(n_out=10).to(dev)
    print(f"xresnet18: {sum(p.numel() for p in model0.parameters())/1e6:.1f}M parameters; {n_batches} timed batches "
          f"per run after one warm-up, {rounds} interleaved rounds; medians")
    print(f"\n{'mini-batch':>10s} {'micro':>6s} {'kappa':>6s} {'Adam step s':>12s} {'split Adam s':>13s} {'BSI s':>8s} "
          f"{'fold s':>8s} {'BSI/Adam':>9s} {'fold/Adam':>10s} {'BSI/split':>10s}")
    res = {}
    for bs in bss:
        dls = _dls(bs*(n_batches+1), bs, sz, dev)
        base,split,bsi,fold = [],{m:[] for m in micros},{m:[] for m in micros},{m:[] for m in micros}
        for _ in range(rounds):
            base += _time_fit(model0, dls, Adam, [], n_batches+1, dev)
            for m in micros:
                split[m] += _time_fit(model0, dls, Adam, [SplitBatch(m)], n_batches+1, dev)
                bsi[m] += _time_fit(model0, dls, adam_bsi, [MicroBatchGrads(micro_bs=m)], n_batches+1, dev)
                fold[m] += _time_fit(model0, dls, adam_bsi, [MicroBatchGrads(micro_bs=m, fold=True)], n_batches+1, dev)
        b = statistics.median(base)
        for m in micros:
            s,z,f = statistics.median(split[m]),statistics.median(bsi[m]),statistics.median(fold[m])
            res[(bs, m)] = (z/b, z/s, f/b)
            print(f"{bs:10d} {m:6d} {bs//m:6d} {b:12.3f} {s:13.3f} {z:8.3f} {f:8.3f} {z/b:8.2f}x {f/b:9.2f}x {z/s:9.2f}x")
    return res

# ---------------------------------------------------------------------------------------------------- 3. memory
class LiveBytes(Callback):
    "Peak bytes held by parameters, gradients, `p.sqr_grad`, optimizer state and `MicroBatchGrads` buffers"
    order = -100
    def before_fit(self):
        self.peak = 0
        self.hooks = [p.register_post_accumulate_grad_hook(lambda p: self.sample()) for p in self.learn.model.parameters()]
    def after_fit(self):
        for h in self.hooks: h.remove()
    def sample(self):
        seen = {}
        def add(t):
            if isinstance(t, Tensor) and t.numel():
                st = t.untyped_storage(); seen[st.data_ptr()] = st.nbytes()
        for p in self.learn.model.parameters():
            add(p); add(p.grad); add(getattr(p, 'sqr_grad', None))
        if self.learn.opt is not None:
            for s in self.learn.opt.state.values():
                for v in s.values(): add(v)
        for cb in self.learn.cbs:
            for b in getattr(cb, 'bufs', {}).values():
                for t in (b if isinstance(b, (tuple, list)) else [b]): add(t)
        self.peak = max(self.peak, sum(seen.values()))
    def after_backward(self): self.sample()
    def before_step(self): self.sample()
    def after_step(self): self.sample()
    def after_batch(self): self.sample()

def bench_memory(dev, sz, micro, kappa, n_steps, arch=xresnet18):
    hr(f"3. memory ({dev.type}): accumulating kappa={kappa} micro-batches of {micro} (mini-batch {micro*kappa})")
    torch.manual_seed(0)
    model0 = arch(n_out=10).to(dev)
    P = sum(p.numel()*p.element_size() for p in model0.parameters())
    dls = _dls(micro*kappa*n_steps, micro, sz, dev)
    out = {}
    for nm,opt_func,cbs in (('fastai Adam + GradientAccumulation', Adam, [GradientAccumulation(micro*kappa)]),
                            ('adam_bsi + MicroBatchGrads(n_acc)', adam_bsi, [MicroBatchGrads(n_acc=kappa)]),
                            ('adam_bsi + MicroBatchGrads(n_acc, fold)', adam_bsi, [MicroBatchGrads(n_acc=kappa, fold=True)])):
        learn = Learner(dls, deepcopy(model0), loss_func=CrossEntropyLossFlat(), opt_func=opt_func, cbs=cbs)
        lb = LiveBytes()
        if dev.type=='cuda': torch.cuda.reset_peak_memory_stats()
        with learn.no_logging(), learn.no_bar(): learn.fit(1, 1e-3, cbs=lb)
        gpu = f", CUDA max_memory_allocated {torch.cuda.max_memory_allocated()/2**20:.0f} MiB" if dev.type=='cuda' else ''
        out[nm] = lb.peak
        print(f"{nm:40s} peak {lb.peak/2**20:7.1f} MiB = {lb.peak/P:.2f} x parameter bytes{gpu}")
    a,b,c = out.values()
    print(f"ratio adam_bsi/Adam: {b/a:.2f}x, folded {c/a:.2f}x (parameters {P/2**20:.1f} MiB; activations not counted)")
    return b/a,c/a


# ---------------------------------------------------------------------------------------------------- 4. single pass
def bench_single_pass(dev, sz, bs, micros, rounds, arch=xresnet18):
    """Per-micro-batch gradient statistics in one pass (`torch.func.vmap` over micro-batches of `grad`) against the
    loop of forward/backward passes `MicroBatchGrads` runs, and against one backward pass on the whole batch"""
    from torch.func import functional_call, vmap, grad
    from fastai_bsi.microbatch import fold_micro_grads
    hr(f"4. single-pass micro-batch statistics ({dev.type}): torch.func.vmap vs the loop, xresnet18, {sz}x{sz}, batch {bs}")
    torch.manual_seed(0)
    model = arch(n_out=10).to(dev).train()
    x,y = torch.randn(bs, 3, sz, sz, device=dev),torch.randint(0, 10, (bs,), device=dev)
    names,ps = zip(*[(n,p) for n,p in model.named_parameters()])
    lf = nn.CrossEntropyLoss()
    def whole():
        for p in ps: p.grad = None
        lf(model(x), y).backward()
    def loop(m):
        sums,sqs = [torch.zeros_like(p) for p in ps],[torch.zeros_like(p) for p in ps]
        for i in range(0, bs, m):
            for p in ps: p.grad = None
            lf(model(x[i:i+m]), y[i:i+m]).backward()
            fold_micro_grads([p.grad for p in ps], sums, sqs, n=m)
        return [a/bs for a in sums],[q/bs for q in sqs]
    def one(params, buffers, xb, yb): return lf(functional_call(model, (params, buffers), (xb,)), yb)
    def single(m):
        k = bs//m
        params = {n:p.detach() for n,p in zip(names, ps)}
        bufs = {n:b.expand(k, *b.shape).clone() for n,b in model.named_buffers()}   # batch-norm statistics per micro-batch
        g = vmap(grad(one), in_dims=(None, 0, 0, 0))(params, bufs, x.view(k, m, *x.shape[1:]), y.view(k, m))
        return [g[n].mean(0) for n in names],[(g[n]*g[n]).mean(0) for n in names]
    state = {n:b.clone() for n,b in model.named_buffers()}
    print(f"{'micro':>6s} {'kappa':>6s} {'whole s':>8s} {'loop s':>8s} {'vmap s':>8s} {'vmap/loop':>10s} {'loop/whole':>11s}  max|stats diff|")
    res = {}
    for m in micros:
        try:
            a,b = loop(m),single(m)
            diff = max((u-v).abs().max().item() for o,q in zip(a, b) for u,v in zip(o, q))
            t = interleaved({'whole': whole, 'loop': lambda: loop(m), 'vmap': lambda: single(m)}, rounds, dev)
            res[m] = t['vmap']/t['loop']
            print(f"{m:6d} {bs//m:6d} {t['whole']:8.3f} {t['loop']:8.3f} {t['vmap']:8.3f} {res[m]:9.2f}x {t['loop']/t['whole']:10.2f}x  {diff:.1e}")
        except Exception as e: print(f"{m:6d}: vmap failed: {type(e).__name__}: {str(e)[:200]}")
        for n,b in model.named_buffers(): b.copy_(state[n])
    print("vmap computes every micro-batch's gradient at once (kappa copies of the weights' size) and normalises each\n"
          "micro-batch with its own batch-norm statistics, as the loop does; its running statistics stay per micro-batch.")
    return res

# ---------------------------------------------------------------------------------------------------- 5. one pass
def _mlp(n_out=10, sz=32):
    return nn.Sequential(nn.Flatten(), nn.Linear(3*sz*sz, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, n_out))

def bench_one_pass(dev, pxs, bss, micros, n_batches, rounds, arch=xresnet18, per_sample=(1, 8), nets=('xresnet', 'vit', 'convnext')):
    """`MicroBatchGrads(one_pass=True)` (one forward/backward pass, per-layer hooks) against the loop of micro-batch
    passes and a standard fastai `Adam` step on the whole batch; per-sample rows for nets without batch norm"""
    from fastai_bsi.experiments import bn_to_gn
    hr(f"5. one pass vs the loop vs Adam ({dev.type}): training step, medians of {n_batches} batches x {rounds} rounds")
    print(f"{'net':>30s} {'px':>4s} {'batch':>6s} {'micro':>6s} {'Adam s':>8s} {'loop s':>8s} {'one s':>8s} {'one/Adam':>9s} {'loop/Adam':>10s} {'one/loop':>9s}")
    res = {}
    def row(nm, model0, sz, bs, ms, once=False):
        "One line per micro-batch size (the one pass as it comes, `wgrad_once='auto'`); with `once`, two more for `wgrad_once` False and True, timed in the same rounds"
        dls = _dls(bs*(n_batches+1), bs, sz, dev)
        base,loop,one = [],{m:[] for m in ms},{m:[] for m in ms}
        onc = {o: {m:[] for m in ms} for o in ((False, True) if once else ())}
        for _ in range(rounds):
            base += _time_fit(model0, dls, Adam, [], n_batches+1, dev)
            for m in ms:
                loop[m] += _time_fit(model0, dls, adam_bsi, [MicroBatchGrads(micro_bs=m)], n_batches+1, dev)
                one[m] += _time_fit(model0, dls, adam_bsi, [MicroBatchGrads(micro_bs=m, one_pass=True)], n_batches+1, dev)
                for o in onc: onc[o][m] += _time_fit(model0, dls, adam_bsi, [MicroBatchGrads(micro_bs=m, one_pass=True, wgrad_once=o)], n_batches+1, dev)
        b = statistics.median(base)
        for m in ms:
            l = statistics.median(loop[m])
            for lab,ts in ((nm, one), *((f'{nm} once={o}', onc[o]) for o in onc)):
                o = statistics.median(ts[m])
                res[(lab, sz, bs, m)] = (o/b, l/b)
                print(f"{lab:>30s} {sz:4d} {bs:6d} {m:6d} {b:8.3f} {l:8.3f} {o:8.3f} {o/b:8.2f}x {l/b:9.2f}x {o/l:8.2f}x")
    if 'xresnet' in nets:
        torch.manual_seed(0)
        for sz in pxs:
            for bs in bss: row('xresnet18 (batch norm)', arch(n_out=10).to(dev), sz, bs, micros)
        torch.manual_seed(0)
        row(f'MLP {3*pxs[0]**2}-512-512-10', _mlp(sz=pxs[0]).to(dev), pxs[0], bss[0], list(per_sample))
        row('xresnet18 (GroupNorm)', bn_to_gn(arch(n_out=10)).to(dev), pxs[0], bss[0], list(per_sample))
    # issue 34: models the one pass now takes (ViT: timm's LayerNorm and Linear, its own tokens; ConvNeXt: LayerNorm2d, layer scale)
    if 'vit' in nets:
        from fastai_bsi.runs import vit_qk
        torch.manual_seed(0); row('09 ViT (vit_qk)', vit_qk(size=24, n_out=10).to(dev), 24, bss[0], [8, 1], once=True)
    if 'convnext' in nets:
        import timm
        torch.manual_seed(0); row('timm convnext_atto', timm.create_model('convnext_atto', pretrained=False, num_classes=10).to(dev), max(pxs[0], 32), bss[0], [8, 1], once=True)   # (stride 32)
    return res

# ---------------------------------------------------------------------------------------------------- main
def parser():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--only', choices=['step', 'train', 'memory', 'single', 'onepass'], default=None)
    ap.add_argument('--rounds', type=int, default=9, help="interleaved rounds for the optimizer step")
    ap.add_argument('--img-size', type=int, default=32)
    ap.add_argument('--train-batches', type=int, default=2)
    ap.add_argument('--train-rounds', type=int, default=2)
    ap.add_argument('--train-bs', type=int, nargs='+', default=[128, 512], help="mini-batch sizes of the training step")
    ap.add_argument('--train-micro', type=int, nargs='+', default=[8, 16, 32], help="micro-batch sizes of the training step")
    ap.add_argument('--device', default=None, help="cpu or cuda (default: cuda when available, and cpu)")
    ap.add_argument('--op-px', type=int, nargs='+', default=None, help="one pass: image sizes (default 32 64)")
    ap.add_argument('--op-bs', type=int, nargs='+', default=None, help="one pass: batch sizes (default 128; 128 512 on CUDA)")
    ap.add_argument('--op-micro', type=int, nargs='+', default=[8, 16, 32], help="one pass: micro-batch sizes for xresnet18")
    ap.add_argument('--op-nets', nargs='+', choices=['xresnet', 'vit', 'convnext'], default=['xresnet', 'vit', 'convnext'],
                    help="one pass: which nets (xresnet: xresnet18, the MLP and GroupNorm xresnet18; vit: 09's vit_qk; convnext: timm's convnext_atto)")
    return ap

def run_sections(devs, args, step_arch=xresnet50, arch=xresnet18, single_bs=128, mem=(32, 4, 2)):
    "Run the sections `args.only` names (all if None) on each device; the summary rows `(device, what, ratio, target)`"
    summary,t0 = [],time.perf_counter()
    lap = lambda: print(f"({time.perf_counter()-t0:.0f}s since the first section)")
    for dev in devs:
        if args.only in (None, 'step'):
            r = bench_step(dev, args.rounds, step_arch)
            summary += [(dev.type, 'adam_bsi step / AdamW(fused)', r['adam_vs_fused'], '<= 1.25x'),
                        (dev.type, 'lamb_bsi step / AdamW(fused)', r['lamb_vs_fused'], '<= 1.5x'),
                        (dev.type, 'fastai Adam step / adam_bsi step (speed-up)', r['adam_vs_fastai'], '>= 3x'),
                        (dev.type, 'fastai Lamb step / lamb_bsi step (speed-up)', r['lamb_vs_fastai'], '>= 3x'),
                        (dev.type, 'adam_bsi effective bandwidth / copy_ bandwidth', r['adam_pct_bw'], 'info')]; lap()
        if args.only in (None, 'train'):
            r = bench_train(dev, args.img_size, args.train_bs, args.train_micro, args.train_batches, args.train_rounds, arch)
            for (bs,m),(vb,vs,vf) in r.items():
                px = f'{args.img_size}px, B={bs}, micro={m}'
                summary.append((dev.type, f'train step {px}: BSI / Adam', vb, '<= 1.10x' if m>=32 else 'info'))
                summary.append((dev.type, f'train step {px}: BSI fold / Adam', vf, '<= 1.10x' if m>=32 else 'info'))
                summary.append((dev.type, f'train step {px}: BSI / split Adam', vs, 'info'))
            lap()
        if args.only in (None, 'memory'):
            r,rf = bench_memory(dev, args.img_size, *mem, arch)
            summary.append((dev.type, f'peak params+grads+state+accumulators: adam_bsi / Adam (kappa={mem[1]})', r, 'info'))
            summary.append((dev.type, f'the same, MicroBatchGrads(fold=True): adam_bsi / Adam (kappa={mem[1]})', rf, '<= 1.00x')); lap()
        if args.only in (None, 'single'):
            r = bench_single_pass(dev, args.img_size, single_bs, [m for m in args.train_micro if single_bs % m == 0], 3, arch)
            for m,v in r.items(): summary.append((dev.type, f'single pass (vmap) / loop, B={single_bs}, micro={m}', v, 'use it if < 1'))
            lap()
        if args.only in (None, 'onepass'):
            pxs = args.op_px or ([32] if arch is not xresnet18 else [32, 64])
            bss = args.op_bs or ([128, 512] if dev.type=='cuda' else [128])
            if arch is not xresnet18: bss = args.op_bs or [16]
            r = bench_one_pass(dev, pxs, bss, args.op_micro, args.train_batches, args.train_rounds, arch,
                               per_sample=(1, 8) if arch is xresnet18 else (1,), nets=args.op_nets)
            for (nm,sz,bs,m),(vo,vl) in r.items():
                new = ('ViT' in nm or 'convnext' in nm) and 'once=' not in nm   # issue 34's rows: the one pass (as it comes) faster than the loop
                tgt = ('info' if new or 'once=' in nm else '<= 1.3x' if m==8 and 'batch norm' in nm else '<= 1.6x' if m==1 else 'info')
                summary.append((dev.type, f'one pass / Adam, {nm}, {sz}px, B={bs}, micro={m}', vo, tgt))
                summary.append((dev.type, f'loop / Adam, {nm}, {sz}px, B={bs}, micro={m}', vl, 'info'))
                if new: summary.append((dev.type, f'one pass / loop, {nm}, {sz}px, B={bs}, micro={m}', vo/vl, '< 1.00x'))
            lap()
    return summary

def print_summary(summary):
    hr("summary (ratios measured in this run)")
    for d,k,v,tgt in summary: print(f"{d:5s} {k:66s} {v:7.2f}  target {tgt}")

def main():
    args = parser().parse_args()
    torch.set_num_threads(args.threads)
    gpu = machine()
    devs = [torch.device(args.device)] if args.device else ([torch.device('cuda')] if gpu else []) + [torch.device('cpu')]
    summary = run_sections(devs, args)
    if not gpu: summary.append(('cuda', 'GPU rows', float('nan'), 'not measured: no GPU available'))
    print_summary(summary)

if __name__ == '__main__': main()
