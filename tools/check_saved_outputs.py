"""Check that every experiment notebook is saved with its results: at least one plot and one table.

Why: the experiment pages (06 onwards) are rendered from the outputs saved in the notebooks; nothing is executed when
the docs are built. A notebook committed without them renders as code only (issue 33: 07_lamb_rule and 09_vit shipped
with 0 plots and 0 tables while their text described both). Save them with `python tools/execute_nbs.py NB`.

Experiment notebooks: nbs/NN*.ipynb with NN >= 06, except 99_all (index and which_rule have no number). Required per
notebook: a saved image output (image/png or image/svg+xml) and a saved table (a text/html output with a <table>, as
a DataFrame displays); a table in a markdown cell does not count. Prints each notebook and what it lacks; exit status
1 if any lacks something. Run by tools/docs_preview.sh (and so by CI's docs check, `docs_preview.sh --check`).
Usage: python tools/check_saved_outputs.py [NBS_FOLDER]    (default: nbs)"""
import json, re, sys
from pathlib import Path

def experiment_nbs(folder):
    "The notebooks numbered 06 and above, 99_all excepted"
    return [p for p in sorted(Path(folder).glob('[0-9][0-9]*.ipynb'))
            if int(p.name[:2]) >= 6 and not p.name.startswith('99_')]

def _text(v): return ''.join(v) if isinstance(v, list) else v

def missing(nb_path):
    "What `nb_path` lacks among a saved plot and a saved table (empty if nothing)"
    outs = [o.get('data', {}) for c in json.loads(Path(nb_path).read_text())['cells'] if c['cell_type'] == 'code'
            for o in c.get('outputs', [])]
    lacks = []
    if not any('image/png' in d or 'image/svg+xml' in d for d in outs): lacks.append('plot (image/png or image/svg+xml output)')
    if not any(re.search(r'<table\b', _text(d.get('text/html', ''))) for d in outs): lacks.append('table (text/html output with a <table>)')
    return lacks

if __name__ == '__main__':
    nbs, bad = experiment_nbs(sys.argv[1] if len(sys.argv) > 1 else 'nbs'), 0
    for p in nbs:
        lacks = missing(p)
        print(f"  {'ok     ' if not lacks else 'MISSING'} {p}" + (': no saved ' + ', no saved '.join(lacks) if lacks else ''))
        bad += bool(lacks)
    if not nbs: print(f'no experiment notebooks (NN_*.ipynb, NN >= 06) in {sys.argv[1] if len(sys.argv) > 1 else "nbs"}')
    if bad: print(f'{bad} experiment notebook(s) saved without their results: run python tools/execute_nbs.py on them')
    sys.exit(1 if bad or not nbs else 0)
