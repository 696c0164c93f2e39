"""Check the internal links of a rendered site folder (`_docs_preview/` from `tools/docs_preview.sh`).

For every `*.html` page of the folder: each `href` to an `.html` page of the site (relative, or absolute from the
site root; with or without a `#anchor`, or a bare `#anchor` into the page itself) must lead to a file in the folder,
and its anchor to an `id` (or `<a name>`) in that page; each `<img src>` must lead to a file in the folder. Links
with a scheme (`https:`, `mailto:`, `data:`, ...) or to another host (`//...`) are not checked. Prints the broken
ones, page by page, and exits non-zero if there are any. Standard library only (`html.parser`).
Usage: python tools/check_links.py [FOLDER]    (default: _docs_preview)"""
import posixpath, re, sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

_re_scheme = re.compile(r'^[a-z][a-z0-9+.-]*:', re.I)


class _Page(HTMLParser):
    "Collect the ids (and `<a name>`s), the `href`s and the `<img src>`s of one page, with their line numbers"
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.hrefs, self.imgs = set(), [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        line = self.getpos()[0]
        if a.get('href') is not None and tag in ('a', 'area'): self.hrefs.append((a['href'], line))
        if tag == 'img' and a.get('src') is not None: self.imgs.append((a['src'], line))
    handle_startendtag = handle_starttag


def parse(path):
    "The `_Page` of the HTML file `path`"
    p = _Page()
    p.feed(Path(path).read_text(encoding='utf-8', errors='replace')); p.close()
    return p


def _target(root, page_rel, url):
    "(path relative to `root` or None for the page itself, fragment) of `url`, or None if it is not internal"
    url = url.strip()
    if not url or _re_scheme.match(url) or url.startswith('//'): return None
    parts = urlsplit(url)
    path, frag = unquote(parts.path), parts.fragment
    if not path: return None, frag
    base = '' if path.startswith('/') else posixpath.dirname(page_rel)
    return posixpath.normpath(posixpath.join(base, path.lstrip('/'))), frag


def check(root):
    "Broken internal links of the `*.html` pages in `root`: a list of (page, line, what, url, why)"
    root = Path(root)
    pages = {f.relative_to(root).as_posix(): f for f in sorted(root.glob('*.html')) if f.is_file()}
    parsed, broken = {}, []
    def get(rel):
        if rel not in parsed: parsed[rel] = parse(root/rel)
        return parsed[rel]
    def exists(rel): return not rel.startswith('../') and rel != '..' and (root/rel).is_file()
    for rel in pages:
        pg = get(rel)
        for url, line in pg.hrefs:
            t = _target(root, rel, url)
            if t is None: continue
            path, frag = t
            if path is None: target = rel                      # '#anchor' in the page itself
            elif not path.endswith('.html'): continue           # only the pages of the site
            elif not exists(path):
                broken.append((rel, line, 'link', url, f'no page {path} in {root}')); continue
            else: target = path
            # as browsers do: the fragment as written, else percent-decoded (nbconvert's ids keep %-escapes)
            if frag and frag not in get(target).ids and unquote(frag) not in get(target).ids:
                broken.append((rel, line, 'link', url, f'no id "{frag}" in {target}'))
        for url, line in pg.imgs:
            t = _target(root, rel, url)
            if t is None: continue
            path, _ = t
            if path is None or not exists(path):
                broken.append((rel, line, 'image', url, f'no file {path} in {root}'))
    return broken


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ('-h', '--help'): print(__doc__); return 0
    root = Path(args[0] if args else '_docs_preview')
    if not root.is_dir(): print(f'ERROR: no folder {root}'); return 1
    n_pages = len(list(root.glob('*.html')))
    if not n_pages: print(f'ERROR: no .html pages in {root}'); return 1
    broken = check(root)
    last = None
    for page, line, what, url, why in broken:
        if page != last: print(f'{page}:'); last = page
        print(f'  line {line}: broken {what} {url}  ({why})')
    print(f'{n_pages} page(s) checked: ' + (f'{len(broken)} broken internal link(s) or image(s)' if broken
                                            else 'every internal link and image resolves'))
    return 1 if broken else 0


if __name__ == '__main__': sys.exit(main())
