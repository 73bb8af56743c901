"""``iadv report``: one self-contained HTML page per run set (``RUNS/report/index.html``).

The page holds its style, its script, its data and its images inline (no
network, no server: it opens from ``file://`` and can be mailed as one file).
It shows, from what the other commands already wrote:

* a header: the run set, its preset, its data (path and fingerprint), seeds,
  code commit, and whether its figures are comparable to the paper's;
* Tables 3, 1 and 4 over seeds with every seed's value, the significance
  tables and the degenerate flags: ``iadv summarize``'s Markdown tables
  (``RUNS/eval/*.md``) rendered, so the page shows exactly what they say;
* the plots (Table 3, Table 4, Figures 1-4, the eps sweep) embedded;
* the studies of ``iadv tune`` (``RUNS/tune/NAME/trials.md``, their sweep);
* the example browser over every Table 1 review of every seed
  (:mod:`~interpretable_adv.reports.review_browser`; drawn by ``report.js``).
"""

import base64
import datetime
import glob
import html
import json
import os
import re

from interpretable_adv import __version__
from interpretable_adv.data import PreparedData
from interpretable_adv.errors import UsageError
from interpretable_adv.files import atomic_write_text, read_json, remove_stale_temporaries
from interpretable_adv.locking import OutputLock
from interpretable_adv.reports.review_browser import browser_data
from interpretable_adv.reports.table3 import reference_vocabulary
from interpretable_adv.runs import RUN_NAMES, check_output_dir, seed_dirs

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "html")

# RUNS/eval's tables (NAME.md), in the order of the page: (NAME, link text, section title).
TABLES = (("table3", "Table 3", "Table 3: test accuracy"),
          ("significance", "Significance", "Table 3: which differences are real"),
          ("table1", "Table 1", "Table 1: how natural the adversarial examples are"),
          ("table4", "Table 4", "Table 4: accuracy under one common word-substitution attack"))
PLOTS = (("eval/table3.png", "Table 3 over seeds: mean +- sd and every seed"),
         ("eval/table4.png", "Table 4: accuracy under attack by budget"),
         ("figures/figure1.png", "Figure 1: SPGD's steps on a two-word review, computed"),
         ("figures/heatmap_*.png", "Figures 2-4: per-token perturbation norms of one review"))
STUDY_PLOTS = ("sweep.png", "optimization_history.png", "parallel_coordinate.png", "param_importances.png",
               "intermediate_values.png")


def markdown_html(text):
    """Markdown (headings, paragraphs, tables, code) as HTML; ``text`` is escaped first, so nothing in it can be
    markup. ``DEGENERATE`` and the significance decisions are marked for the style sheet."""
    import markdown

    body = markdown.markdown(html.escape(text, quote=False), extensions=["tables"], output_format="html")
    body = body.replace("DEGENERATE", '<span class="flag">DEGENERATE</span>')
    return re.sub(r"<td>(not significant|significant)</td>",
                  lambda m: '<td class="%s">%s</td>' % (m.group(1).replace(" ", "-"), m.group(1)), body)


def image_uri(path):
    """``path`` (a PNG) as a ``data:`` URI."""
    with open(path, "rb") as f:
        return "data:image/png;base64," + base64.b64encode(f.read()).decode("ascii")


def run_facts(runs_dir, seeds, summary):
    """The header: run set, preset, data, seeds, commits, comparability (from the runs' ``args.json``)."""
    configs, commits = [], set()
    for path in seeds.values():
        for name in RUN_NAMES:
            if os.path.isfile(os.path.join(path, name, "args.json")):
                args = read_json(os.path.join(path, name, "args.json"), "run arguments")
                configs.append((args.get("config") or {}, args.get("data_fingerprint")))
                if args.get("git_commit"):
                    commits.add(str(args["git_commit"]))
    config, fingerprint = configs[0] if configs else ({}, None)
    presets = sorted({str(c.get("preset")) for c, _ in configs if c.get("preset")})
    comparable = bool(summary.get("comparable_to_paper"))
    if not comparable:
        verdict = ("NOT comparable to the paper: these runs are not on the paper's IMDB split (e.g. the synthetic "
                   "corpus of the demo); the paper's figures are not shown.")
    elif presets != ["paper"]:
        verdict = ("On the paper's IMDB split at the %s preset (reduced sizes, see the README): the paper's figures "
                   "are shown for reference, not as a target these sizes can reach." % "/".join(presets or ["?"]))
    else:
        verdict = "The paper's IMDB split and hyperparameters: comparable to the paper's tables."
    return {"runs": os.path.abspath(runs_dir), "name": os.path.basename(os.path.abspath(runs_dir)),
            "preset": ", ".join(presets) or "unknown", "data": config.get("data"), "data_fingerprint": fingerprint,
            "seeds": list(seeds), "commits": sorted(commits), "comparable": comparable, "verdict": verdict,
            "generated": datetime.datetime.now().isoformat(timespec="seconds"), "version": __version__}


def table_sections(runs_dir):
    """``[(id, link text, title, html)]`` of RUNS/eval's Markdown tables that exist."""
    out = []
    for name, link, title in TABLES:
        path = os.path.join(runs_dir, "eval", name + ".md")
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                out.append((name, link, title, markdown_html(f.read())))
    return out


def plot_images(runs_dir):
    """``[(caption, data URI)]`` of the run set's plots that exist."""
    out = []
    for pattern, caption in PLOTS:
        for path in sorted(glob.glob(os.path.join(runs_dir, pattern))):
            name = os.path.splitext(os.path.basename(path))[0]
            out.append(("%s (%s)" % (caption, name) if "*" in pattern else caption, image_uri(path)))
    return out


def study_sections(runs_dir):
    """``[(name, html, [(caption, data URI)])]`` of the ``iadv tune`` studies under RUNS/tune (their trials.md,
    sweep.md and plots)."""
    out = []
    for directory in sorted(glob.glob(os.path.join(runs_dir, "tune", "*", ""))):
        parts = []
        for name in ("sweep.md", "trials.md"):
            if os.path.isfile(os.path.join(directory, name)):
                with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
                    parts.append(markdown_html(f.read()))
        if parts:
            images = [(plot[:-4].replace("_", " "), image_uri(os.path.join(directory, plot)))
                      for plot in STUDY_PLOTS if os.path.isfile(os.path.join(directory, plot))]
            out.append((os.path.basename(os.path.dirname(directory)), "\n".join(parts), images))
    return out


def script_json(value):
    """``value`` as JSON that is safe inside ``<script type="application/json">`` (no ``<``, ``>``, ``&``)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name):
    with open(os.path.join(ASSETS, name), encoding="utf-8") as f:
        return f.read()


def render_page(facts, tables, plots, studies, examples):
    """The whole page as one string (``html/page.html`` filled in; style, script, data and images inline)."""
    e = html.escape
    header = [("run set", facts["runs"]), ("preset", facts["preset"]),
              ("data", "%s (fingerprint %s)" % (facts["data"], (facts["data_fingerprint"] or "?")[:12])),
              ("seeds", ", ".join(map(str, facts["seeds"]))), ("code", ", ".join(c[:10] for c in facts["commits"])
                                                                  or "unknown"),
              ("written", "%s by interpretable_adv %s" % (facts["generated"], facts["version"]))]
    header_html = "".join("<dt>%s</dt><dd>%s</dd>" % (e(k), e(str(v))) for k, v in header)
    nav, sections = [], []
    if examples is not None:
        nav.append(("examples", "Example browser"))
    for ident, link, title, body in tables:
        nav.append((ident, link))
        sections.append('<section id="%s"><h2>%s</h2>%s</section>' % (ident, e(title), body))
    if plots:
        nav.append(("plots", "Plots"))
        sections.append('<section id="plots"><h2>Plots</h2>%s</section>' % "".join(
            '<figure><img src="%s" alt="%s"><figcaption>%s</figcaption></figure>' % (uri, e(caption), e(caption))
            for caption, uri in plots))
    if studies:
        nav.append(("studies", "Studies"))
        sections.append('<section id="studies"><h2>Studies (iadv tune)</h2>%s</section>' % "".join(
            '<article class="study"><h3>%s</h3>%s%s</article>' % (e(name), body, "".join(
                '<figure><img src="%s" alt="%s"><figcaption>%s</figcaption></figure>' % (uri, e(c), e(c))
                for c, uri in images)) for name, body, images in studies))
    page = _asset("page.html")
    fills = {"TITLE": e("interpretable-adv report: %s" % facts["name"]), "STYLE": _asset("report.css"),
             "SCRIPT": _asset("report.js"), "HEADER": header_html,
             "VERDICT_CLASS": "comparable" if facts["comparable"] else "not-comparable", "VERDICT": e(facts["verdict"]),
             "NAV": "".join('<a href="#%s">%s</a>' % (i, e(t)) for i, t in nav),
             "EXAMPLES": _asset("browser.html") if examples is not None else
             '<p class="missing">No Table 1 examples in this run set: run <code>iadv evaluate</code> for a seed.</p>',
             "SECTIONS": "\n".join(sections), "DATA": script_json(examples)}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: fills[m.group(1)], page)


def write_report(runs_dir, out=None, data_dir=None):
    """Write ``out/index.html`` (default ``RUNS/report``) for the run set ``runs_dir``; returns its path.

    Needs ``iadv summarize``'s ``RUNS/eval/summary.json``; the example browser
    needs a seed's ``iadv evaluate`` output. ``data_dir`` (default: the runs'
    dataset, when it is here and of their vocabulary) gives the words'
    sentiment leans.
    """
    seeds = seed_dirs(runs_dir)
    if not seeds:
        raise UsageError("--runs %s: no seedN/ run directories (the layout of experiments/reproduce_small.sh)"
                         % runs_dir)
    summary_path = os.path.join(runs_dir, "eval", "summary.json")
    if not os.path.isfile(summary_path):
        raise UsageError("%s: not found; run `iadv summarize --runs %s` first (the report shows its tables)"
                         % (summary_path, runs_dir))
    summary = read_json(summary_path, "summary")
    if not isinstance(summary, dict) or not isinstance(summary.get("table3"), list):
        raise UsageError("%s: not the summary.json of `iadv summarize`; rerun it" % summary_path)
    out = out or os.path.join(runs_dir, "report")
    check_output_dir(out)
    facts = run_facts(runs_dir, seeds, summary)
    data = _leaning_data(data_dir, facts["data"], seeds)
    page = render_page(facts, table_sections(runs_dir), plot_images(runs_dir), study_sections(runs_dir),
                       browser_data(seeds, data))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "index.html")
    with OutputLock(out):
        remove_stale_temporaries(out)
        atomic_write_text(path, page)
    return path


def _leaning_data(data_dir, recorded, seeds):
    """The prepared dataset to take sentiment leans from: ``data_dir`` (checked), else the runs' own when it is
    here and of their vocabulary, else None (the page then colours by norm alone)."""
    if data_dir is None and (recorded is None or not os.path.isfile(os.path.join(recorded, "vocab.json"))):
        return None
    data = PreparedData(data_dir or recorded)
    trained_on, _ = reference_vocabulary(None, *seeds.values())   # the runs' own record of their vocabulary
    if trained_on is not None and trained_on != data.vocab.hash:
        if data_dir is not None:
            raise UsageError("--data %s: not the vocabulary the runs were trained on" % data_dir)
        return None
    return data

