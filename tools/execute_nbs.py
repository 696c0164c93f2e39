"""Execute notebooks in place and save their outputs (what the rendered docs show), then clean them with nbdev.
The experiment notebooks read the CPU-scale CSVs in results/, so their saved tables and plots are those runs'.
Usage: python tools/execute_nbs.py nbs/06_paper_protocol.ipynb [...]"""
import os, sys, time
from pathlib import Path
from fastcore.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

for f in map(Path, sys.argv[1:]):
    t0, cwd = time.time(), os.getcwd()
    nb = read_nb(f)
    os.chdir(f.parent)
    try: CaptureShell().run_all(nb, exc_stop=True)
    finally: os.chdir(cwd)
    write_nb(nb, f)
    os.system(f'nbdev-clean --fname "{f}"')
    print(f'{f}: executed and saved in {time.time()-t0:.0f} s')
