"""Open the built book in a real browser with no network and check what a reader sees.

    python scripts/check_book.py [--html _build/html] [--out _build/browser-check]

Serves ``_build/html`` on 127.0.0.1 and drives the system's chromium (Debian: ``apt-get install
chromium chromium-driver``) through selenium, with every other host unreachable (no DNS, a dead
proxy). For every page it checks that

- nothing is requested from outside 127.0.0.1 (the page works offline);
- every equation is typeset by MathJax (each ``.math`` element holds an ``mjx-container`` and
  none an ``mjx-merror``);
- every slider figure (``rmm_lib.widgets``) draws, and when its slider is dragged to each end, the
  plotted values, the title and the marker equal that frame's data and differ from the other end.

Before the pages, a self-test shows that the slider check passes a working slider and fails one whose
grip moves without redrawing. It saves a screenshot of each slider at both ends and ``report.json`` (page weight: bytes loaded,
by kind), prints a table and exits non-zero when a check fails. ``make check-book`` runs it.
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


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(root: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


INSTALL_HINT = ("needs chromium and chromedriver: install them (Debian/Ubuntu: sudo apt-get install chromium "
                "chromium-driver) or name yours with CHROMIUM=/path/to/chrome CHROMEDRIVER=/path/to/chromedriver")


def find_browser() -> tuple:
    """(chromium, chromedriver): $CHROMIUM / $CHROMEDRIVER, else the usual names on PATH (None if absent)."""
    binary = os.environ.get("CHROMIUM") or next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome") if shutil.which(n)), None)
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
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
                 "--window-size=1280,1000", "--hide-scrollbars", "--no-first-run",
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
        for page in pages:
            requests_of(chrome)  # drop what an earlier page logged
            chrome.get(base + page)
            wait(chrome, "return document.readyState === 'complete'")
            math = chrome.execute_async_script(TYPESET)
            if math["math"] and (not math["mathjax"] or math["typeset"] < math["math"] or math["errors"]):
                problems.append(f"{page}: {math['typeset']} of {math['math']} equations typeset, "
                                f"{math['errors']} MathJax errors (MathJax loaded: {math['mathjax']})")
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
                            "network": outside, "bytes": weight}
    finally:
        chrome.quit()
        server.shutdown()
    seconds = time.time() - start
    kinds = ["page", "theme", "mathjax", "plotly.js", "images and data"]
    print(f"{'page':44s} {'equations':>9s} {'sliders':>7s} " + " ".join(f"{k + ' KB':>16s}" for k in kinds))
    for page, r in report.items():
        print(f"{page:44s} {r['typeset']:>4d}/{r['equations']:<4d} {r['sliders']:>7d} "
              + " ".join(f"{r['bytes'].get(k, 0) / 1024:16.0f}" for k in kinds))
    print(f"{len(pages)} pages, {sum(r['sliders'] for r in report.values())} sliders, "
          f"{sum(bool(r['network']) for r in report.values())} pages needing a network, {seconds:.0f} s")
    (args.out / "report.json").write_text(json.dumps({"seconds": seconds, "pages": report, "problems": problems},
                                                     indent=1))
    for p in problems:
        print("FAIL", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
