"""Execute notebooks in place and save their outputs (what the rendered docs show), then clean them with nbdev.
The experiment notebooks read the CPU-scale CSVs in results/, so their saved tables and plots are those runs'.
Usage: python tools/execute_nbs.py nbs/06_paper_protocol.ipynb [...]"""
import os, re, sys, time
# One torch thread, as tools/docs_preview.sh: two threads fighting over 2 busy cores made one run take an hour
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"): os.environ.setdefault(_v, "1")
from pathlib import Path
from fastcore.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

_bar = re.compile(r'\s*(Epoch \d+/\d+ :)?\s*(\|[\u2588-]*\|.*)?$')   # a fastprogress bar, or what erasing one leaves

def _clean_stream(text):
    "Console output as a terminal would end up showing it: per line the last of its carriage-return rewrites that is not a progress bar"
    out = []
    for line in text.split('\n'):
        segs = [s for s in line.split('\r') if s.strip() != '\u2588' and not _bar.match(s.replace('\u2588', ''))]
        if segs: out.append(segs[-1].replace('\u2588', ''))
    return '\n'.join(out) + ('\n' if text.endswith('\n') else '')

def _clean_outputs(nb):
    "Progress bars out of the saved text; torch's deprecation warning about torch.jit.script (raised by fastai's import) dropped"
    for c in nb.cells:
        outs = []
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream':
                t = ''.join(o['text']) if isinstance(o['text'], list) else o['text']
                if o.get('name') == 'stderr': t = '\n'.join(l for l in t.split('\n') if 'torch.jit.script' not in l and l.strip() != 'warnings.warn(')
                else: t = _clean_stream(t)
                if not t.strip(): continue
                o['text'] = t
            outs.append(o)
        c['outputs'] = outs

for f in map(Path, sys.argv[1:]):
    t0, cwd = time.time(), os.getcwd()
    nb = read_nb(f)
    os.chdir(f.parent)
    try: CaptureShell().run_all(nb, exc_stop=True)
    finally: os.chdir(cwd)
    _clean_outputs(nb)
    write_nb(nb, f)
    os.system(f'nbdev-clean --fname "{f}"')
    print(f'{f}: executed and saved in {time.time()-t0:.0f} s')
