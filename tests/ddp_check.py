"Two-process checks of fastai_bsi under fastai's `distrib_ctx` on the CPU (gloo). Run: torchrun --nproc_per_node 2 THIS OUT"
import os, sys, warnings
from fastai.basics import *
from fastai.callback.training import GradientClip, GradientAccumulation
from fastai_bsi.optimizer import *
from fastai_bsi.microbatch import *
from fastai_bsi.distributed import *
from fastai_bsi.noise_scale import GradientNoiseScale
try: from fastai_bsi.scaler import BatchSizeScaler
except ImportError: BatchSizeScaler = None
try: from fastai_bsi.ramp import BatchSizeRamp
except ImportError: BatchSizeRamp = None

N_TRAIN,N_VALID,WORLD,N_REG = 48,16,2,8192

def data():
    "Random images; the first pixel flags the 4-sample micro-batch 8 (by dataset position) for `Gated`"
    g = torch.Generator().manual_seed(0)
    x,y = torch.randn(N_TRAIN+N_VALID, 3, 8, 8, generator=g),torch.randint(0, 3, (N_TRAIN+N_VALID,), generator=g)
    k = torch.arange(N_TRAIN+N_VALID)//4
    x[:,0,0,0] = torch.where(k==8, 3., -3.)
    return x,y

def dls(bs, order=None):
    x,y = data()
    idx = range(N_TRAIN) if order is None else order
    train,valid = [(x[i],y[i]) for i in idx],list(zip(x[N_TRAIN:], y[N_TRAIN:]))
    return DataLoaders.from_dsets(train, valid, bs=bs, shuffle=False, drop_last=False, num_workers=0, device='cpu')

def one_process_order(per_step, world=WORLD, n=N_TRAIN):
    "Training samples in the order one process must see them: its step `s` holds step `s` of every worker's shard"
    shard = n//world
    return [r*shard + i for s in range(0, shard, per_step) for r in range(world) for i in range(s, s+per_step)]

def cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

class Gated(Module):
    "Only micro-batches whose flag pixel is positive use `aux`; `never` is never used"
    def __init__(self):
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(192, 8), nn.ReLU())
        self.head,self.aux,self.never = nn.Linear(8, 3),nn.Linear(8, 3),nn.Linear(2, 2)
    def forward(self, x):
        h = self.body(x)
        return self.head(h) + self.aux(h) if x[:,0,0,0].mean() > 0 else self.head(h)

def learner(model, bs, cbs=None, opt_func=adam_bsi, order=None, **kw):
    torch.manual_seed(0)
    return Learner(dls(bs, order), model(), CrossEntropyLossFlat(), opt_func=opt_func, lr=1e-2, cbs=cbs, **kw)

def reg_data():
    "A linear regression: 4 features, a bias and noise"
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N_REG, 4, generator=g)
    return x,(x@torch.tensor([1., -2., .5, 3.]) + 1. + .5*torch.randn(N_REG, generator=g))[:,None]

def reg_model():
    m = nn.Linear(4, 1)
    with torch.no_grad(): m.weight.fill_(0.2); m.bias.zero_()
    return m

def reg_learner(bs, cbs, order=None):
    "The regression at lr=0 (every step at the same weights), for the gradient noise scale against its known answer"
    x,y = reg_data()
    train = [(x[i],y[i]) for i in (range(N_REG) if order is None else order)]
    dls = DataLoaders.from_dsets(train, train[:16], bs=bs, shuffle=False, drop_last=False, num_workers=0, device='cpu')
    return Learner(dls, reg_model(), MSELossFlat(), opt_func=adam_bsi, lr=0., cbs=cbs)

def scalers(): return [BatchSizeScaler(ref_bs=8, verbose=False)] if BatchSizeScaler else []

def ramp_sched(p):
    "Samples per step, all processes together, as the fit goes: 1, 2 and 3 batches of 4 on each of the 2 workers"
    return 8 if p < 0.25 else 16 if p < 0.6 else 24

def ramps(**kw): return [BatchSizeRamp(verbose=False, **kw)] if BatchSizeRamp else []

def scenarios(rank):
    "name: (make the Learner, kwargs of `distrib_ctx` or None for no DDP, epochs)"
    from accelerate.utils import DistributedDataParallelKwargs
    ddp_kw = DistributedDataParallelKwargs(find_unused_parameters=True, bucket_cap_mb=1e-4, gradient_as_bucket_view=True)
    MBG,no_bn = MicroBatchGrads,dict(sync_bn=False)
    return dict(
        adam_split    = (lambda: learner(cnn, 8, [MBG(micro_bs=4), CommCounter()]), no_bn, 2),
        lamb_acc      = (lambda: learner(cnn, 4, [MBG(n_acc=2), GradientClip(0.3), CommCounter()], lamb_bsi), no_bn, 2),
        unused        = (lambda: learner(Gated, 8, [MBG(micro_bs=4), CommCounter()]), dict(kwargs_handlers=[ddp_kw]), 1),
        scaler        = (lambda: learner(cnn, 8, [MBG(micro_bs=4)] + scalers(), metrics=accuracy), no_bn, 1),
        fold_split    = (lambda: learner(cnn, 8, [MBG(micro_bs=4, fold=True), CommCounter()]), no_bn, 2),
        one_pass      = (lambda: learner(cnn, 8, [MBG(micro_bs=4, one_pass=True), CommCounter()]), no_bn, 2),
        one_pass_fold = (lambda: learner(cnn, 8, [MBG(micro_bs=4, one_pass=True, fold=True), CommCounter()]), no_bn, 2),
        one_pass_acc  = (lambda: learner(cnn, 4, [MBG(micro_bs=2, n_acc=2, one_pass=True), CommCounter()], lamb_bsi), no_bn, 2),
        one_pass_acc_fold = (lambda: learner(cnn, 4, [MBG(micro_bs=2, n_acc=2, one_pass=True, fold=True)], lamb_bsi), no_bn, 2),
        fold_acc      = (lambda: learner(cnn, 4, [MBG(n_acc=2, fold=True), CommCounter()], lamb_bsi), no_bn, 2),
        fold_unused   = (lambda: learner(Gated, 8, [MBG(micro_bs=4, fold=True), CommCounter()]), dict(kwargs_handlers=[ddp_kw]), 1),
        gns_split     = (lambda: reg_learner(16, [MBG(micro_bs=4), GradientNoiseScale(), CommCounter()]), no_bn, 1),
        gns_fold      = (lambda: reg_learner(8, [MBG(n_acc=2, fold=True), GradientNoiseScale(), CommCounter()]), no_bn, 1),
        ramp_acc      = (lambda: learner(cnn, 4, [MBG(n_acc=1), CommCounter()] + ramps(sched=ramp_sched)), no_bn, 2),
        ramp_loop_fold = (lambda: learner(cnn, 4, [MBG(micro_bs=2, fold=True), CommCounter()] + ramps(sched=ramp_sched)), no_bn, 2),
        ramp_noise    = (lambda: reg_learner(8, [MBG(micro_bs=4), GradientNoiseScale(), CommCounter()] + ramps(max_bs=64, factor=1e-3, min_steps=4)), no_bn, 1),
        plain_ddp     = (lambda: learner(cnn, 8, [CommCounter()], Adam), no_bn, 1),
        plain_ddp_acc = (lambda: learner(cnn, 4, [GradientAccumulation(8), CommCounter()], Adam), no_bn, 1),
        no_mbg        = (lambda: learner(cnn, 8, None), no_bn, 1),
        mismatch      = (lambda: learner(cnn, 8, [MBG(micro_bs=4 if rank==0 else 2)]), no_bn, 1),
        unwrapped     = (lambda: learner(cnn, 8, [MBG(micro_bs=4)]), None, 1),
        sync_bn_cpu   = (lambda: learner(cnn, 8, [MBG(micro_bs=4)]), dict(sync_bn=True), 1),
    )

def state_of(learn):
    "Weights and optimizer state (tensors and step counts), in the order of `learn.model.parameters()`"
    ps = list(learn.model.parameters())
    st = [{k:(v.clone() if isinstance(v, Tensor) else v) for k,v in learn.opt.state[p].items()
           if isinstance(v, (Tensor, int))} for p in ps]
    return dict(params=[p.detach().clone() for p in ps], state=st)

def run(make, ctx, epochs):
    learn = make()
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always', BSIWarning)
        try:
            with learn.no_bar(), learn.no_logging():
                if ctx is None: learn.fit(epochs)
                else:
                    with learn.distrib_ctx(cpu=True, **ctx): learn.fit(epochs)
        except Exception as e: return dict(error=f'{type(e).__name__}: {e}', warnings=[str(w.message) for w in ws])
    res = state_of(learn)
    res['values'] = [list(map(float, v)) for v in learn.recorder.values]
    res['warnings'] = [str(w.message) for w in ws if issubclass(w.category, BSIWarning)]
    for cb in learn.cbs:
        if isinstance(cb, CommCounter): res['comm'] = cb.per_step
        if BatchSizeScaler and isinstance(cb, BatchSizeScaler): res['eff_bs'] = cb.record['bs']
        if isinstance(cb, GradientNoiseScale): res['gns'] = cb.history
        if BatchSizeRamp and isinstance(cb, BatchSizeRamp): res['step_bs'],res['ramp'] = learn.recorder.step_bs,cb.history
    return res

if __name__ == '__main__':
    import torch.distributed as dist
    from datetime import timedelta
    torch.set_num_threads(1); warnings.filterwarnings('ignore')
    dist.init_process_group('gloo', timeout=timedelta(seconds=120))   # a lost peer fails, it does not hang
    out,rank = Path(sys.argv[1]),dist.get_rank()
    res = {n: run(*o) for n,o in scenarios(rank).items()}
    torch.save(res, out/f'rank{rank}.pt')
    dist.destroy_process_group()
