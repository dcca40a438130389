"""Open the built book in a real browser with no network and check what a reader sees.

    python scripts/check_book.py [--html _build/html] [--out _build/browser-check]

Serves ``_build/html`` on 127.0.0.1 and drives the system's chromium (Debian: ``apt-get install
chromium chromium-driver``) through selenium, with every other host unreachable (no DNS, a dead
proxy). For every page it checks that

- nothing is requested from outside 127.0.0.1 (the page works offline);
- every equation is typeset by MathJax (each ``.math`` element holds an ``mjx-container`` and
  none an ``mjx-merror``);
- every slider figure (``rmm_lib.widgets``) draws, and when its slider is dragged to each end, the
  plotted values, the title and the marker equal that frame's data and differ from the other end;
- nothing is wider than the text column: no table, code block (folded ones opened), output, equation
  or image reaches past the column's right edge or scrolls sideways inside it, and no printed text
  table (lines whose `` | `` separators line up, as ``format_table`` prints them) is wider than the
  column, where the book's CSS would wrap its lines;
- every figure's text is legible at the size it is drawn: a matplotlib PNG records its smallest font
  size and dpi (``rmm_lib.style.figure_png``), so its smallest text renders at
  ``points / 72 * dpi * shown width / natural width`` pixels; a plotly figure's SVG text has its font
  size; both must reach ``MIN_TEXT_PX`` (the body's small print). A PNG output without the record
  fails too (its text size is unknown);
- the page's first screen (the window's height, from the top) holds prose: at least
  ``MIN_FIRST_SCREEN_PROSE`` characters of paragraphs and list items outside code and output.

Before the pages, self-tests show that each check passes a working page and fails a broken one: the
slider check a slider whose grip moves without redrawing; the layout checks a copy of a built page
made deliberately wide (a wide table, an unbreakable code line, a printed text table wider than the
column), one given a figure with 7-point text
drawn 13 inches wide, and one whose first screen is all code. It saves a screenshot of each slider
at both ends, of each page's first screen and of its first results table and figure, and
``report.json`` (page weight: bytes loaded, by kind; the layout measures), prints a table and exits
non-zero when a check fails. ``make check-book`` runs it.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"genindex.html", "search.html"}
MIN_TEXT_PX = 12.0           # the body's small print at the page's width (body text is 16 px)
MIN_FIRST_SCREEN_PROSE = 200  # characters of prose in the window's first 1000 px
WINDOW = (1280, 1000)

# What a page's figure shows, read from the browser: the traces' y, the title and marker drawn.
PLOTTED = """
const gd = document.getElementById(arguments[0]);
const title = gd.querySelector('.gtitle');
return {active: gd._fullLayout.sliders[0].active,
        y: gd.data.map(t => Array.from(t.y)),
        title: title ? title.textContent : '',
        shapes: (gd.layout.shapes || []).map(s => s.x0),
        svg: Array.from(gd.querySelectorAll('.barlayer path, .scatterlayer path, .errorbar path, .shapelayer path')).map(p => p.getAttribute('d'))};
"""
FRAMES = """
const gd = document.getElementById(arguments[0]);
return gd._transitionData._frames.map(f => ({y: f.data.map(t => t.y), title: f.layout.title.text,
                                             shapes: (f.layout.shapes || []).map(s => s.x0)}));
"""
READY = """
const gd = document.getElementById(arguments[0]);
return !!(gd && gd._fullLayout && gd._fullLayout.sliders && gd.querySelector('.slider-grip-rect'));
"""
TYPESET = """
const done = arguments[arguments.length - 1];
const math = document.querySelectorAll('.math');
if (!math.length) { done({math: 0, typeset: 0, errors: 0, mathjax: !!window.MathJax}); return; }
if (!window.MathJax || !MathJax.startup) { done({math: math.length, typeset: 0, errors: 0, mathjax: false}); return; }
MathJax.startup.promise.then(() => done({
  math: math.length, mathjax: true,
  typeset: Array.from(math).filter(m => m.querySelector('mjx-container')).length,
  errors: document.querySelectorAll('mjx-merror').length}));
"""

# What is wider than the text column, with every folded cell opened (and closed again after).
OVERFLOW = """
const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const opened = Array.from(art.querySelectorAll('details:not([open])'));
opened.forEach(d => d.open = true);
const box = art.getBoundingClientRect();
const right = box.right - parseFloat(getComputedStyle(art).paddingRight) + 1;
const found = [];
const describe = el => {
  const text = (el.innerText || el.getAttribute('src') || '').replace(/\\s+/g, ' ').trim().slice(0, 70);
  return el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '')
         + ' "' + text + '"';
};
const sel = 'pre, table, img, svg.main-svg, mjx-container[display="true"], div.math, .cell_output > div, .highlight, div.rmm-tables';
for (const el of art.querySelectorAll(sel)) {
  if (!el.getClientRects().length) continue;  // not rendered
  const r = el.getBoundingClientRect();
  const sideways = el.scrollWidth - el.clientWidth;
  if (r.right > right + 1 || sideways > 1) {
    found.push({what: describe(el), right: Math.round(r.right), column: Math.round(right), sideways: sideways});
  }
}
// Printed output wraps at the column (book/_static/rmm.css), which would hide a text table too wide
// for it: lines whose column separators (format_table's " | ") stand at the same places are a
// table; measure them unwrapped.
const pipes = l => { const at = []; let i = l.indexOf(' | '); while (i >= 0) { at.push(i); i = l.indexOf(' | ', i + 1); } return at.join(','); };
for (const pre of art.querySelectorAll('.cell_output pre, .output pre')) {
  if (!pre.getClientRects().length) continue;
  const groups = {};
  for (const l of pre.innerText.split('\\n')) { const k = pipes(l); if (k) (groups[k] = groups[k] || []).push(l); }
  const rows = Object.values(groups).filter(g => g.length >= 2).flat();
  if (!rows.length) continue;
  const probe = document.createElement('pre');
  probe.style.cssText = 'position:absolute;visibility:hidden;white-space:pre;padding:0;margin:0;';
  probe.style.font = getComputedStyle(pre).font;
  probe.textContent = rows.join('\\n');
  document.body.appendChild(probe);
  const width = probe.scrollWidth, room = pre.clientWidth - parseFloat(getComputedStyle(pre).paddingLeft)
                                            - parseFloat(getComputedStyle(pre).paddingRight);
  probe.remove();
  if (width > room + 1) {
    found.push({what: 'a text table ' + describe(pre) + ' (its lines wrap)', right: Math.round(box.left + width),
                column: Math.round(right), sideways: Math.round(width - room)});
  }
}
opened.forEach(d => d.open = false);
return found;
"""
# Every image: where it comes from and at what size it is shown; every plotly figure's text sizes.
FIGURES = """
const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const imgs = Array.from(art.querySelectorAll('img')).filter(i => i.getClientRects().length).map(i => ({
  src: i.currentSrc || i.src, shown: i.getBoundingClientRect().width, natural: i.naturalWidth,
  output: !!i.closest('.cell_output, .output')}));
const plotly = Array.from(art.querySelectorAll('.js-plotly-plot')).map(p => {
  const svg = p.querySelector('svg.main-svg');
  const scale = svg && svg.getAttribute('width') ? svg.getBoundingClientRect().width / parseFloat(svg.getAttribute('width')) : 1;
  const sizes = Array.from(p.querySelectorAll('svg text')).filter(t => t.textContent.trim() && t.getClientRects().length)
    .map(t => ({px: parseFloat(getComputedStyle(t).fontSize) * scale, text: t.textContent.trim().slice(0, 30)}));
  return {id: p.id, sizes: sizes};
});
return {imgs: imgs, plotly: plotly};
"""
# The prose a reader sees before scrolling: paragraphs and list items outside code, outputs and tables.
FIRST_SCREEN = """
window.scrollTo(0, 0);
const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
let chars = 0;
for (const el of art.querySelectorAll('p, li, dd')) {
  if (el.closest('.cell, .cell_output, pre, table, nav, .toc, header')) continue;
  if (el.querySelector('p, li')) continue;  // count the innermost block only
  const r = el.getBoundingClientRect();
  if (!el.getClientRects().length || r.top >= window.innerHeight || r.bottom <= 0) continue;
  chars += el.innerText.trim().length;
}
return chars;
"""


def check_layout(chrome, page: str, root: Path, base: str) -> tuple[list[str], dict]:
    """The three layout checks on the page open in ``chrome`` (served from ``root`` at ``base``):
    (problems, measures)."""
    from rmm_lib.style import PNG_KEYS, png_metadata

    problems, measures = [], {}
    wide = chrome.execute_script(OVERFLOW)
    for w in wide[:5]:
        problems.append(f"{page}: wider than its column: {w['what']} (right edge {w['right']} px, column ends at "
                        f"{w['column']} px, scrolls sideways by {w['sideways']} px)")
    if len(wide) > 5:
        problems.append(f"{page}: {len(wide) - 5} more elements wider than the column")
    measures["too wide"] = len(wide)

    figures = chrome.execute_script(FIGURES)
    smallest = []
    for img in figures["imgs"]:
        url = urlparse(img["src"])
        if not img["src"].startswith(base) or not url.path.lower().endswith(".png") or not img["natural"]:
            continue
        path = root / url.path[len(urlparse(base).path):]
        meta = png_metadata(path.read_bytes()) if path.exists() else {}
        name = Path(url.path).name[:16]
        if PNG_KEYS["font"] not in meta:
            if img["output"]:
                problems.append(f"{page}: figure {name}... does not record its font size (not drawn through "
                                "rmm_lib.style.figure_png: was rmm_lib.notebook.setup() called?)")
            continue
        px = float(meta[PNG_KEYS["font"]]) / 72 * float(meta.get(PNG_KEYS["dpi"], 100)) * img["shown"] / img["natural"]
        smallest.append(px)
        if px < MIN_TEXT_PX - 0.05:
            problems.append(f"{page}: figure {name}... has text rendered at {px:.1f} px (smallest font "
                            f"{meta[PNG_KEYS['font']]} pt at {meta.get(PNG_KEYS['dpi'])} dpi, drawn {img['natural']} px "
                            f"wide, shown {img['shown']:.0f} px); the page needs {MIN_TEXT_PX:g} px")
    for fig in figures["plotly"]:
        if not fig["sizes"]:
            continue
        low = min(fig["sizes"], key=lambda t: t["px"])
        smallest.append(low["px"])
        if low["px"] < MIN_TEXT_PX - 0.05:
            problems.append(f"{page}: plotly figure {fig['id']} has text at {low['px']:.1f} px ({low['text']!r}); "
                            f"the page needs {MIN_TEXT_PX:g} px")
    measures["smallest figure text (px)"] = round(min(smallest), 1) if smallest else None

    prose = chrome.execute_script(FIRST_SCREEN)
    measures["first-screen prose (chars)"] = prose
    if prose < MIN_FIRST_SCREEN_PROSE:
        problems.append(f"{page}: the first screen holds {prose} characters of prose (at least "
                        f"{MIN_FIRST_SCREEN_PROSE}): a reader sees code or output before any text")
    return problems, measures


def screenshots(chrome, page: str, out: Path) -> None:
    """The page's first screen, its first results table and its first figure."""
    from selenium.webdriver.common.by import By

    stem = page.replace("/", "_").removesuffix(".html")
    chrome.execute_script("window.scrollTo(0, 0)")
    chrome.save_screenshot(str(out / f"{stem}-first-screen.png"))
    for kind, css in (("table", "div.rmm-tables"), ("figure", ".cell_output img")):
        found = chrome.find_elements(By.CSS_SELECTOR, css)
        if found:
            chrome.execute_script("arguments[0].scrollIntoView({block: 'start'})", found[0])
            found[0].screenshot(str(out / f"{stem}-{kind}.png"))
    chrome.execute_script("window.scrollTo(0, 0)")


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(root: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


INSTALL_HINT = ("the browser check needs chromium and chromedriver: install them (Debian/Ubuntu: sudo apt-get install chromium "
                "chromium-driver) or name yours with CHROMIUM=/path/to/chrome CHROMEDRIVER=/path/to/chromedriver")


def find_browser() -> tuple:
    """(chromium, chromedriver): $CHROMIUM / $CHROMEDRIVER, else the usual names on PATH (None if absent)."""
    binary = (shutil.which(os.environ["CHROMIUM"]) if os.environ.get("CHROMIUM") else
              next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome", "chrome"))), None))
    driver = shutil.which(os.environ["CHROMEDRIVER"]) if os.environ.get("CHROMEDRIVER") else shutil.which("chromedriver")
    return binary, driver


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = find_browser()
    if not binary or not driver:
        sys.exit(f"check_book: {INSTALL_HINT}")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 # No network: no host name resolves and everything but loopback goes to a dead proxy.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 "--proxy-server=http://0.0.0.0:9"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    chrome.execute_cdp_cmd("Network.enable", {})
    chrome.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})  # each page's full weight
    return chrome


def requests_of(chrome) -> dict:
    """{url: bytes} of everything the page loaded since the last call (from the performance log)."""
    urls, sizes, failed = {}, {}, {}
    for entry in chrome.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        if msg["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif msg["method"] == "Network.loadingFinished":
            sizes[params["requestId"]] = params.get("encodedDataLength", 0)
        elif msg["method"] == "Network.loadingFailed":
            failed[params["requestId"]] = params.get("errorText", "failed")
    return {"loaded": {urls[r]: sizes.get(r, 0) for r in urls if r not in failed},
            "failed": {urls[r]: failed[r] for r in urls if r in failed}}


def kind(url: str) -> str:
    path = urlparse(url).path
    if "/_static/mathjax/" in path:
        return "mathjax"
    if path.endswith("/_static/plotly.min.js"):
        return "plotly.js"
    if "/_static/" in path or "/_sphinx_design_static/" in path:
        return "theme"
    if path.endswith(".html"):
        return "page"
    return "images and data"


def drag_to(chrome, div_id: str, end: str) -> None:
    """Drag the slider's grip past the rail's end, as a reader would with the mouse."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    grip = chrome.find_element(By.CSS_SELECTOR, f"#{div_id} .slider-grip-rect")
    rail = chrome.find_element(By.CSS_SELECTOR, f"#{div_id} .slider-rail-rect")
    width = rail.size["width"]
    offset = width // 2 + 20 if end == "max" else -(width // 2 + 20)
    ActionChains(chrome).click_and_hold(grip).move_to_element_with_offset(rail, offset, 0).release().perform()


def wait(chrome, script: str, *args, timeout: float = 20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = chrome.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.1)
    return None


def check_slider(chrome, div_id: str, page: str, out: Path) -> list[str]:
    problems = []
    if not wait(chrome, READY, div_id):
        return [f"{page}: slider {div_id} never drew (plotly.js not loaded?)"]
    chrome.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'center'})", div_id)
    frames = chrome.execute_script(FRAMES, div_id)
    seen = {}
    for end, index in (("max", len(frames) - 1), ("min", 0)):
        drag_to(chrome, div_id, end)
        selected = "const s = (function () {" + PLOTTED + "}).apply(null, arguments); return s.active === arguments[1] ? s : null;"
        state = wait(chrome, selected, div_id, index)
        if state is None:
            problems.append(f"{page}: dragging {div_id} to its {end} did not select frame {index}")
            continue
        time.sleep(0.3)  # let the redraw finish before reading the SVG and the screenshot
        state = chrome.execute_script(PLOTTED, div_id)
        frame = frames[index]
        if state["y"] != frame["y"]:
            problems.append(f"{page}: {div_id} at its {end} plots {state['y']}, frame {index} has {frame['y']}")
        if state["title"] != frame["title"] or state["shapes"] != frame["shapes"]:
            problems.append(f"{page}: {div_id} at its {end} shows title {state['title']!r} / marker "
                            f"{state['shapes']}, frame {index} has {frame['title']!r} / {frame['shapes']}")
        seen[end] = state
        chrome.find_element("id", div_id).screenshot(str(out / f"{Path(page).stem}-{div_id}-{end}.png"))
    if len(seen) == 2 and len(frames) > 1:
        a, b = seen["min"], seen["max"]
        if (a["y"], a["title"], a["shapes"]) == (b["y"], b["title"], b["shapes"]) or a["svg"] == b["svg"]:
            problems.append(f"{page}: {div_id} looks the same at both ends (values or drawing unchanged)")
    return problems


def self_test(chrome, html: Path) -> list[str]:
    """The slider check must pass a working slider and fail one that moves without redrawing."""
    import tempfile

    from rmm_lib.widgets import Frame, InteractiveFigure, Layout, Series, Slider

    layout = Layout(x=["a", "b"], x_title="class", y_title="accuracy", y_range=(0, 1))
    good = Slider(lambda r: Frame([Series("m", [r, 1 - r])], title=f"rate {r}"), [0.1, 0.9], layout).figure_dict()
    broken = json.loads(json.dumps(good))
    for step in broken["layout"]["sliders"][0]["steps"]:
        step["method"] = "skip"  # the grip moves, the figure stays
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "_static").mkdir()
        shutil.copy(html / "_static" / "plotly.min.js", root / "_static" / "plotly.min.js")
        (root / "notebooks").mkdir()
        server = serve(root)
        try:
            for name, fig, should_pass in (("good", good, True), ("broken", broken, False)):
                figure = InteractiveFigure(fig)
                (root / "notebooks" / f"{name}.html").write_text(f"<html><body>{figure._repr_html_()}</body></html>")
                chrome.get(f"http://127.0.0.1:{server.server_address[1]}/notebooks/{name}.html")
                found = check_slider(chrome, figure.div_id, f"self-test {name}", root)
                if bool(found) == should_pass:
                    problems.append(f"self-test: the slider check {'failed' if should_pass else 'passed'} a "
                                    f"{name} slider ({found})")
        finally:
            server.shutdown()
    return problems


def self_test_layout(chrome, html: Path) -> list[str]:
    """The layout checks must pass a built page and fail copies of it made deliberately wide, given
    a figure with small text, or starting with code: each broken copy fails its own check."""
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rmm_lib.style import figure_png

    candidates = sorted((html / "notebooks").glob("*.html"))
    if not candidates:
        return ["self-test: no built notebook page to copy"]
    source = candidates[0]
    text = source.read_text(encoding="utf-8")
    article = text.find("<article")
    title = text.find("</h1>", article) + len("</h1>")  # the page's title, in its article
    if article < 0 or title < len("</h1>"):
        return [f"self-test: {source.name} has no article with a title to insert after"]

    def figure(width, fontsize):
        fig, ax = plt.subplots(figsize=(width, 3))
        ax.plot([0, 1], [0, 1], label="a line")
        ax.set_xlabel("x", fontsize=fontsize), ax.set_ylabel("y", fontsize=fontsize)
        ax.tick_params(labelsize=fontsize), ax.legend(fontsize=fontsize)
        data = figure_png(fig)
        plt.close(fig)
        return data

    def output(inner):
        return f'<div class="cell_output docutils container"><div class="output">{inner}</div></div>'

    wide_table = "<table><tr>" + "".join(f"<td style='white-space:nowrap'>column {i} value</td>" for i in range(40)) + "</tr></table>"
    long_line = "<div class='highlight'><pre>" + "x" * 400 + "</pre></div>"
    from rmm_lib.reporting import format_table

    text_table = format_table({f"method {i}": {f"column {j}": f"{60 + i}.{j} [59.0, 61.0]" for j in range(9)}
                               for i in range(3)}, title="a printed table")
    printed = output(f"<div class='output stream highlight-myst-ansi'><div class='highlight'><pre>{text_table}"
                     "</pre></div></div>")
    code = "<div class='cell docutils container'><div class='highlight'><pre>" + "\n".join(
        f"line_{i} = {i}" for i in range(120)) + "</pre></div></div>"
    after_prose = text.index("</p>", title) + len("</p>")  # after the first paragraph under the title
    variants = {  # name: (page text, the check that must fail, or None: every check passes)
        "good": (text[:after_prose] + output('<img src="good.png" alt="">') + text[after_prose:], None),
        "wide table": (text[:after_prose] + output(wide_table) + text[after_prose:], "wider than its column"),
        "long code line": (text[:after_prose] + long_line + text[after_prose:], "wider than its column"),
        "printed text table": (text[:after_prose] + printed + text[after_prose:], "a text table"),
        "small figure text": (text[:after_prose] + output('<img src="small.png" alt="">') + text[after_prose:],
                              "text rendered at"),
        "code first": (text[:title] + code + text[title:], "first screen holds"),
    }
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for entry in html.iterdir():  # the theme, MathJax, images: linked, not copied
            if entry.is_dir() and entry.name != "notebooks":
                (root / entry.name).symlink_to(entry)
        (root / "notebooks").mkdir()
        (root / "notebooks" / "good.png").write_bytes(figure(6.5, 10.5))
        (root / "notebooks" / "small.png").write_bytes(figure(13, 7))
        server = serve(root)
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        try:
            for name, (page, failing) in variants.items():
                file = f"notebooks/self-test-{name.replace(' ', '-')}.html"
                (root / file).write_text(page, encoding="utf-8")
                chrome.get(base + file)
                wait(chrome, "return document.readyState === 'complete'")
                wait(chrome, "return Array.from(document.images).every(i => i.complete)")
                found, _ = check_layout(chrome, f"self-test {name}", root, base)
                if failing is None and found:
                    problems.append(f"self-test: the layout checks failed a good page: {found}")
                elif failing is not None and not any(failing in f for f in found):
                    problems.append(f"self-test: the layout checks passed a page with a {name} ({found})")
                elif failing is not None:
                    print(f"self-test: a page with a {name} fails as it should: "
                          f"{next(f for f in found if failing in f)[:160]}")
        finally:
            server.shutdown()
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "browser-check")
    parser.add_argument("--find-browser", action="store_true",
                        help="only say whether chromium and chromedriver are found (exit 0) or how to install them (1)")
    args = parser.parse_args(argv)
    if args.find_browser:
        found = all(find_browser())
        print("chromium and chromedriver found" if found else INSTALL_HINT)
        return 0 if found else 1
    if not (args.html / "index.html").exists():
        sys.exit(f"check_book: no built book at {args.html}; run `make book` first.")
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.png"):  # screenshots of an earlier build would name sliders no longer there
        old.unlink()
    pages = sorted(p.relative_to(args.html).as_posix() for p in args.html.rglob("*.html")
                   if p.name not in SKIP and "_static" not in p.parts and "_sources" not in p.parts)
    start = time.time()
    server, chrome = serve(args.html), browser()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    report, problems = {}, []
    try:
        problems += self_test(chrome, args.html)
        problems += self_test_layout(chrome, args.html)
        for page in pages:
            requests_of(chrome)  # drop what an earlier page logged
            chrome.get(base + page)
            wait(chrome, "return document.readyState === 'complete'")
            math = chrome.execute_async_script(TYPESET)
            if math["math"] and (not math["mathjax"] or math["typeset"] < math["math"] or math["errors"]):
                problems.append(f"{page}: {math['typeset']} of {math['math']} equations typeset, "
                                f"{math['errors']} MathJax errors (MathJax loaded: {math['mathjax']})")
            wait(chrome, "return Array.from(document.images).every(i => i.complete)")
            layout_problems, layout = check_layout(chrome, page, args.html, base)
            problems += layout_problems
            screenshots(chrome, page, args.out)
            sliders = chrome.execute_script("return Array.from(document.querySelectorAll('div.rmm-slider')).map(d => d.id)")
            for div_id in sliders:
                problems += check_slider(chrome, div_id, page, args.out)
            net = requests_of(chrome)
            outside = sorted(u for u in list(net["loaded"]) + list(net["failed"])
                             if urlparse(u).scheme in ("http", "https") and not u.startswith(base))
            failed_here = sorted(u for u in net["failed"] if u.startswith(base))
            if outside:
                problems.append(f"{page}: needs a network for {outside}")
            if failed_here:
                problems.append(f"{page}: missing files {failed_here}")
            weight = {}
            for url, size in net["loaded"].items():
                if url.startswith(base):
                    weight[kind(url)] = weight.get(kind(url), 0) + size
            report[page] = {"equations": math["math"], "typeset": math["typeset"], "sliders": len(sliders),
                            "network": outside, "bytes": weight, "layout": layout}
    finally:
        chrome.quit()
        server.shutdown()
    seconds = time.time() - start
    kinds = ["page", "theme", "mathjax", "plotly.js", "images and data"]
    print(f"{'page':40s} {'equations':>9s} {'sliders':>7s} {'too wide':>8s} {'text px':>7s} {'prose':>5s} "
          + " ".join(f"{k + ' KB':>10s}" for k in kinds))
    for page, r in report.items():
        lay = r["layout"]
        small = lay["smallest figure text (px)"]
        print(f"{page:40s} {r['typeset']:>4d}/{r['equations']:<4d} {r['sliders']:>7d} {lay['too wide']:>8d} "
              f"{'-' if small is None else f'{small:.1f}':>7s} {lay['first-screen prose (chars)']:>5d} "
              + " ".join(f"{r['bytes'].get(k, 0) / 1024:10.0f}" for k in kinds))
    print(f"{len(pages)} pages, {sum(r['sliders'] for r in report.values())} sliders, "
          f"{sum(bool(r['network']) for r in report.values())} pages needing a network, {seconds:.0f} s")
    (args.out / "report.json").write_text(json.dumps({"seconds": seconds, "pages": report, "problems": problems},
                                                     indent=1))
    for p in problems:
        print("FAIL", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
