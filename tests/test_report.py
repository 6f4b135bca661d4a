"""The HTML report: self-contained, escaped, and checked in a real (headless) browser."""

import json
import os
import re
import shutil
import subprocess

import pytest

from benchmark.api import evaluate
from benchmark.datasets.mod import load_mod
from stickerbench.leaderboard import svg
from stickerbench.leaderboard.report import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def hostile_run(mini_mod_dir, tmp_path):
    """A run whose dataset puts markup in a dialogue, as an untrusted dataset may."""
    train = json.loads((mini_mod_dir / "validation.json").read_text())
    first = next(iter(train))
    train[first][0]["txt"] = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'
    (mini_mod_dir / "validation.json").write_text(json.dumps(train))
    out = tmp_path / "run"
    evaluate(["random", "popularity"], dataset=load_mod(mini_mod_dir), output=out, progress=False)
    return out


def test_report_is_self_contained_and_escapes_dataset_text(hostile_run):
    html = render_report([hostile_run])
    assert "<script>" not in html and "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "the report must not load anything from the network"
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]+)"', html))
    assert "R@1 difference to the best" in html and "Case studies" in html and "Provenance" in html


def _browser(page, tmp_path, *extra):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium in CI: .ci/run installs Debian's chromium package")
        pytest.skip("no Chromium on this machine (apt-get install chromium); CI always runs this test")
    return subprocess.run(
        [CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_report_renders_in_a_browser_without_errors_and_every_image_decodes(hostile_run, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_report([hostile_run]))
    shot = tmp_path / "report.png"
    rendered = _browser(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600")
    assert shot.is_file() and shot.stat().st_size > 10_000, rendered.stderr[-2000:]
    console = [line for line in rendered.stderr.splitlines() if "CONSOLE" in line or "Refused to" in line]
    assert not console, console
    # the report allows no script; a copy with a probe script appended reports on its images
    probe = tmp_path / "probe.html"
    html = page.read_text()
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    html = html.replace(
        "</body>",
        "<script>window.addEventListener('load',()=>{const i=[...document.images];"
        "document.title='probe:'+JSON.stringify({n:i.length,bad:i.filter(x=>!x.complete||x.naturalWidth===0).length,"
        "title:document.querySelector('h1').textContent})})</script></body>",
    )
    probe.write_text(html)
    dumped = _browser(probe, tmp_path, "--dump-dom", "--virtual-time-budget=5000")
    found = re.search(r"<title>probe:(.*?)</title>", dumped.stdout)
    assert found, dumped.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"'))
    assert result["n"] > 10 and result["bad"] == 0 and result["title"].startswith("stickerbench report")


CLIPPED_TEXTS_PROBE = (
    "<script>window.addEventListener('load',()=>{const out=[];for(const s of document.querySelectorAll('svg')){"
    "const r=s.getBoundingClientRect();for(const t of s.querySelectorAll('text')){const b=t.getBoundingClientRect();"
    "if(b.left<r.left-0.5||b.right>r.right+0.5||b.top<r.top-0.5||b.bottom>r.bottom+0.5)out.push(t.textContent)}}"
    "document.title='probe:'+JSON.stringify(out)})</script>"
)


def test_no_chart_text_is_cut_off_in_a_browser(tmp_path):
    """The legend of a slice chart of every selector and the longest ablation name fits its chart
    (it ran past the right edge and was cut off at nine selectors)."""
    names = ["random", "popularity", "clip", "vilt", "blip2", "mod-gpt", "mmbert", "fromage", "cks", "cks-no-keue"]
    chart = svg.grouped_bars(
        ["1-2 (110)", "3-4 (213)", "5+ (188)"], {n: [10.0, 50.0, 90.0] for n in names}, "R@1 by context_turns"
    )
    page = tmp_path / "chart.html"
    page.write_text(
        f"<!doctype html><html><head><title>x</title></head><body>{chart}{CLIPPED_TEXTS_PROBE}</body></html>"
    )
    dumped = _browser(page, tmp_path, "--dump-dom", "--virtual-time-budget=5000")
    found = re.search(r"<title>probe:(.*?)</title>", dumped.stdout)
    assert found, dumped.stderr[-2000:]
    assert json.loads(found.group(1).replace("&quot;", '"')) == []
