"""The HTML catalog of the demo archive, rendered by Debian's chromium (headless, its own chromedriver,
networking off): every domain, table and owner, charts with data, a failed run shown as failed, the
search; a screenshot lands in the test's folder."""

from __future__ import annotations

import shutil

import pytest

from archival import cli
from tests.conftest import IN_CI
from tests.purge.demo import prepare_demo
from tests.run.helpers import run_with_a_vanishing_table

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif((CHROMIUM is None or DRIVER is None) and not IN_CI,
                                reason="Debian's chromium and chromium-driver are not installed")


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM and DRIVER, "chromium is missing: .ci/run installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1800", "--host-resolver-rules=MAP * ~NOTFOUND"):  # no name resolves: offline
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    yield driver
    driver.quit()


def test_the_catalog_in_a_browser(demo_project, small_demo_db, monkeypatch, tmp_path, browser, prefect_server):
    from selenium.webdriver.common.by import By

    folder = prepare_demo(demo_project, small_demo_db, monkeypatch)
    assert run_with_a_vanishing_table(folder, monkeypatch, folder / "data" / "helpdesk.db", "labels",
                                      ["--as-of", "2026-11-26T10:00:00Z", "--no-progress", "--ignore-quiet-hours"]) == 1
    out = tmp_path / "catalog"
    assert cli.main(["docs", "--project-dir", str(folder), "--out", str(out)]) == 0
    html = (out / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing to fetch: it opens offline

    browser.get((out / "index.html").as_uri())
    assert browser.find_element(By.CSS_SELECTOR, "#domain-helpdesk h2").text == "Domain helpdesk"
    assert browser.find_element(By.CSS_SELECTOR, "#domain-helpdesk .owner").text == "support-ops@example.com"
    cards = browser.find_elements(By.CSS_SELECTOR, "article.table-card")
    assert sorted(c.get_attribute("id") for c in cards) == sorted(
        f"helpdesk.{t}" for t in ("agents", "labels", "customers", "tickets", "ticket_comments", "ticket_labels"))
    comments = browser.find_element(By.ID, "helpdesk.ticket_comments")
    bars = comments.find_elements(By.CSS_SELECTOR, 'svg.chart[data-series="live_rows"] rect.bar')
    assert len(bars) >= 24 and sum(int(b.get_attribute("data-value")) for b in bars) > 1000
    customers = browser.find_element(By.ID, "helpdesk.customers").get_attribute("innerHTML")
    assert "hash" in customers and "(not archived)" in customers  # email hashed, phone dropped
    failed = browser.find_elements(By.CSS_SELECTOR, "#runs tr.run-failed")
    assert len(failed) == 1 and "failed" in failed[0].text and "helpdesk.labels/full" in failed[0].text
    assert browser.find_elements(By.CSS_SELECTOR, "#runs tr.run-ok")  # the archiving run
    browser.save_screenshot(str(tmp_path / "catalog.png"))
    assert (tmp_path / "catalog.png").stat().st_size > 10_000

    search = browser.find_element(By.ID, "search")
    search.send_keys("comments")
    shown = [c.get_attribute("id") for c in cards if c.is_displayed()]
    assert shown == ["helpdesk.ticket_comments"]
