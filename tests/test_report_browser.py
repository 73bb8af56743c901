"""``iadv report``'s page in a real browser: headless Chromium driven by Selenium, from ``file://``.

The page is the report of the tiny reproduction (``tiny_reproduction`` in
conftest.py: two seeds, 20 Table 1 reviews each); every value the tests expect
is read from the files the page was made from (``summary.json``,
``examples.jsonl``), never from the page's own data. Set
``IADV_REPORT_SCREENSHOT=PATH`` to keep the screenshot (docs/img/report.png).
"""

import json
import os
import shutil

import pytest

from tests.test_report import HOSTILE, hand_made_run_set

pytestmark = pytest.mark.browser
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip("no %s: install Debian's chromium and chromium-driver (.ci/run does)" % " and ".join(missing))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--window-size=1400,1000", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(browser, request, tmp_path_factory):
    """The tiny reproduction's report; asked for after ``browser``, so that without Chromium nothing is trained."""
    tiny_reproduction = request.getfixturevalue("tiny_reproduction")
    result = tiny_reproduction["result"]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    runs = tiny_reproduction["root"] / "runs"
    out = tmp_path_factory.mktemp("report")
    code, stdout, err = _report(runs, out)
    assert code == 0, err
    assert "report: %s" % (out / "index.html") in stdout
    return {"runs": runs, "page": out / "index.html"}


def _report(runs, out):
    """``iadv report --runs RUNS -o OUT`` as a user runs it: ``(exit status, stdout, stderr)``."""
    import subprocess
    import sys

    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "iadv"), "report", "--runs", str(runs),
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def open_page(driver, path):
    driver.get("file://" + str(path))
    driver.get_log("browser")   # only what the next steps log counts
    return driver


def errors_of(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def examples(runs, seed=0):
    with open(runs / ("seed%d" % seed) / "eval" / "examples.jsonl") as f:
        return {e["test_index"]: e for e in map(json.loads, f)}


def list_items(driver):
    return driver.find_elements("css selector", "#review-list li")


def test_the_page_loads_from_file_with_no_console_error(browser, report):
    browser.get("file://" + str(report["page"]))
    logged = browser.get_log("browser")
    assert [e for e in logged if e["level"] in ("SEVERE", "WARNING")] == [], logged
    assert browser.title.startswith("interpretable-adv report")
    assert "NOT comparable to the paper" in browser.find_element("id", "verdict").text
    assert len(list_items(browser)) == 20   # seed 0's 20 reviews of Table 1


def test_the_tables_show_the_values_of_summary_json(browser, report):
    open_page(browser, report["page"])
    summary = json.load(open(report["runs"] / "eval" / "summary.json"))
    cells = {}
    for tr in browser.find_elements("css selector", "#table3 table tr")[1:]:
        tds = [td.text for td in tr.find_elements("tag name", "td")]
        cells[tds[0]] = tds
    for row in summary["table3"]:
        shown = cells[row["model"]]
        assert shown[1] == "%.2f +- %.2f" % (row["test_mean"], row["test_sd"]), row["model"]
        for seed, cell in row["seeds"].items():
            assert "%s: %.2f" % (seed, cell["test_accuracy"]) in shown[2]
    table1 = browser.find_element("id", "table1").text
    for name in ("advt", "spgd"):
        assert "%.2f +- %.2f" % (summary["table1"][name]["direction"]["perplexity"]["mean"],
                                 summary["table1"][name]["direction"]["perplexity"]["sd"]) in table1
    table4 = browser.find_element("id", "table4").text
    for row in summary["table4"]["rows"]:
        column = row["columns"]["Accuracy under attack"]
        assert "%.2f +- %.2f" % (column["mean"], column["sd"]) in table4
    assert len(browser.find_elements("css selector", "#plots img")) >= 3
    assert errors_of(browser) == []


def test_choosing_a_review_shows_its_tokens_with_the_norms_of_examples_jsonl(browser, report):
    open_page(browser, report["page"])
    written = examples(report["runs"])
    items = list_items(browser)
    items[5].click()
    index = int(items[5].get_attribute("data-index"))
    review = browser.find_element("id", "review")
    assert int(review.get_attribute("data-index")) == index
    entry = written[index]
    rows = review.find_elements("css selector", ".method-row[data-row]")
    assert {r.get_attribute("data-row") for r in rows} == {k for k, v in entry.items() if isinstance(v, dict)}
    for row in rows:
        name = row.get_attribute("data-row")
        tokens = row.find_elements("css selector", ".tokens .token")
        assert [t.text for t in tokens] == entry["tokens"]
        assert [float(t.get_attribute("data-norm")) for t in tokens] == pytest.approx(entry[name]["norms"], rel=5e-4)
        changed = [(a, b) for a, b in zip(entry["tokens"], entry[name]["direction"]) if a != b]
        direction = row.find_elements("css selector", ".diff")[0].text
        assert all("%s -> %s" % pair in direction for pair in changed)
    # keyboard: j moves to the next review, k back
    browser.find_element("tag name", "body").send_keys("j")
    assert int(review.get_attribute("data-index")) == int(list_items(browser)[6].get_attribute("data-index"))
    browser.find_element("tag name", "body").send_keys("k")
    assert int(browser.find_element("id", "review").get_attribute("data-index")) == index
    assert errors_of(browser) == []


def test_the_filters_change_the_list_as_the_examples_say(browser, report):
    from selenium.webdriver.support.ui import Select

    open_page(browser, report["page"])
    written = examples(report["runs"])
    flipped = {i for i, e in written.items()
               if any(isinstance(v, dict) and v["predictions"]["direction"] != v["predictions"]["original"]
                      for v in e.values())}
    assert 0 < len(flipped) < len(written)
    browser.find_element("id", "flipped").click()
    assert {int(li.get_attribute("data-index")) for li in list_items(browser)} == flipped
    browser.find_element("id", "flipped").click()
    Select(browser.find_element("id", "label")).select_by_value("0")
    assert {int(li.get_attribute("data-index")) for li in list_items(browser)} == \
        {i for i, e in written.items() if e["label"] == 0}
    Select(browser.find_element("id", "label")).select_by_value("")
    Select(browser.find_element("id", "method")).select_by_value("spgd")
    rows = browser.find_elements("css selector", "#review .method-row[data-row]")
    assert [r.get_attribute("data-row") for r in rows] == ["spgd"]
    spgd_flipped = {i for i, e in written.items()
                    if e["spgd"]["predictions"]["direction"] != e["spgd"]["predictions"]["original"]}
    browser.find_element("id", "flipped").click()
    assert {int(li.get_attribute("data-index")) for li in list_items(browser)} == spgd_flipped
    browser.find_element("id", "flipped").click()
    Select(browser.find_element("id", "sort")).select_by_value("gap")
    gaps = [written[int(li.get_attribute("data-index"))]["spgd"]["ppl"]["direction"]
            - written[int(li.get_attribute("data-index"))]["ppl_original"] for li in list_items(browser)]
    assert gaps == sorted(gaps, reverse=True)
    assert errors_of(browser) == []


def test_a_hostile_word_is_shown_as_text_and_runs_nothing(browser, tmp_path):
    hand_made_run_set(tmp_path)
    code, _, err = _report(tmp_path, tmp_path / "out")
    assert code == 0, err
    open_page(browser, tmp_path / "out" / "index.html")
    assert browser.title != "pwned"
    tokens = [t.text for t in browser.find_elements("css selector", "#review .original .token")]
    assert HOSTILE in tokens
    assert browser.find_elements("css selector", "#review img") == []
    assert "Table 4 attack on Baseline" in browser.find_element("id", "review").text
    assert errors_of(browser) == []


def test_a_screenshot_for_the_docs(browser, report, tmp_path):
    open_page(browser, report["page"])
    browser.execute_script("document.getElementById('examples').scrollIntoView()")
    path = tmp_path / "report.png"
    assert browser.save_screenshot(str(path))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20000   # a drawn page, not a blank one
    keep = os.environ.get("IADV_REPORT_SCREENSHOT")
    if keep:
        shutil.copy(str(path), keep)
