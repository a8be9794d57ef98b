"""The web page in a real headless Chromium, as a person uses it.

    browser.py test  URL SHOTS_DIR SESSION_ID   # the walk the tests make
    browser.py bench URL RUNS                   # page weight and time to first paint

`test` opens the dashboard, starts an upload and watches it reach 100 %, sees the
sessions table change, opens a session, asks for a restore and sees its cost per
tier, requests it, runs a quick check, and saves a config with a bad value to see
the error at its key. Screenshots of every page at desktop and phone widths go to
SHOTS_DIR. Any step that does not happen fails with what was on the page.

Needs Debian's chromium and chromium-driver, and selenium (.venv).
"""

import json
import os
import shutil
import statistics
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

DESKTOP = (1280, 900)
PHONE = (390, 844)


def browser(size):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        sys.exit("chromium and chromedriver are needed (Debian: chromium chromium-driver; "
                 "scripts/install-test-tools.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-extensions", "--no-first-run", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    d.set_window_size(*size)
    return d


def wait(d, what, test, timeout=60):
    # The page redraws by replacing nodes: an element read while it is replaced
    # is stale, and the next poll reads the new one.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(
            lambda _: test())
    except Exception:
        message = d.find_element(By.ID, "message").text
        task = d.find_element(By.ID, "task").text
        sys.exit(f"{what} did not happen within {timeout} s\nmessage: {message!r}\ntask: {task!r}")


def texts(d, css):
    """The text of every element `css` selects, read again if the page redrew them."""
    for _ in range(50):
        try:
            return [e.text for e in d.find_elements(By.CSS_SELECTOR, css)]
        except StaleElementReferenceException:
            time.sleep(0.1)
    sys.exit(f"{css} kept changing")


def text(d, id_):
    return d.find_element(By.ID, id_).text


def shot(d, shots, name):
    path = os.path.join(shots, name + ".png")
    # The whole page, not just the window.
    height = d.execute_script("return document.documentElement.scrollHeight")
    width = d.get_window_size()["width"]
    d.set_window_size(width, max(height + 120, 600))
    d.save_screenshot(path)
    print("screenshot", path)


def fit(d, size):
    d.set_window_size(*size)


def go(d, url, view):
    d.get(url + "#" + view)
    wait(d, f"the {view} view", lambda: d.find_element(By.ID, "view-" + view).is_displayed())


def task_state(d):
    return d.find_element(By.ID, "task").get_attribute("data-state") or ""


def run_task(d, button, label):
    """Clicks `button`, waits for the task panel to show the task whose label has
    `label` and for it to end; its state."""
    button.click()
    wait(d, f"the task {label!r} to start", lambda: label in text(d, "task-label"))
    wait(d, f"the task {label!r} to end",
         lambda: task_state(d) not in ("", "running", "stopping"), 120)
    return task_state(d)


def test(url, shots, session_id):
    os.makedirs(shots, exist_ok=True)
    d = browser(DESKTOP)
    try:
        # The dashboard: nothing backed up yet.
        go(d, url, "dashboard")
        wait(d, "the dashboard's numbers", lambda: "/" in text(d, "protected"))
        before = text(d, "protected")
        assert before.startswith("0 /"), before
        rows = texts(d, "#categories tbody tr")
        assert len(rows) == 6, rows
        wait(d, "the health checks", lambda: "checking" not in text(d, "doctor-state"))
        shot(d, shots, "dashboard-desktop")
        fit(d, DESKTOP)

        # Upload everything; the bar reaches 100 %.
        state = run_task(d, d.find_element(By.CSS_SELECTOR, "[data-action=upload-all]"),
                         "upload every session")
        assert state == "complete", (state, text(d, "task"))
        width = d.find_element(By.ID, "task-bar").get_attribute("style")
        assert "100" in width, width
        assert "100.0 %" in text(d, "task-numbers"), text(d, "task-numbers")
        rows = texts(d, "#task-rows tbody tr")
        assert rows and all("done" in r for r in rows), rows
        wait(d, "the dashboard to count the uploads",
             lambda: not text(d, "protected").startswith("0 /"))
        print("upload:", text(d, "task-numbers"))
        shot(d, shots, "upload-done-desktop")
        fit(d, DESKTOP)

        # The sessions table says backed up.
        go(d, url, "sessions")
        wait(d, "the sessions table", lambda: d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr"))
        cells = texts(d, "#sessions tbody tr td:nth-child(7)")
        assert cells and all(c == "yes" for c in cells), cells
        search = d.find_element(By.ID, "search")
        search.send_keys(session_id)
        wait(d, "the search to narrow the table",
             lambda: len(d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")) == 1)
        shot(d, shots, "sessions-desktop")
        fit(d, DESKTOP)

        # One session: members, manifest, log.
        d.find_element(By.LINK_TEXT, session_id).click()
        wait(d, "the session's members",
             lambda: d.find_elements(By.CSS_SELECTOR, "#members tbody tr"))
        wait(d, "the manifest", lambda: session_id in text(d, "manifest"))
        log = texts(d, "#log tbody tr")
        assert any("upload" in r for r in log), log

        # A restore request shows its cost and wait per tier before anything is asked.
        d.find_element(By.ID, "detail-restore").click()
        wait(d, "the restore cost table", lambda: d.find_elements(By.CSS_SELECTOR, "#tiers tbody tr"))
        tiers = texts(d, "#tiers tbody tr")
        assert any(t.startswith("Bulk") and "$" in t for t in tiers), tiers
        assert any(t.startswith("Standard") for t in tiers), tiers
        shot(d, shots, "session-restore-desktop")
        fit(d, DESKTOP)
        state = run_task(d, d.find_element(By.ID, "restore-confirm"), "restore of session")
        assert state == "complete", text(d, "task")
        assert "in-progress" in text(d, "task-result"), text(d, "task-result")

        # The restore view lists it.
        go(d, url, "restore")
        wait(d, "the restore status", lambda: session_id in text(d, "restores"))
        # moto makes a restored copy at once; AWS takes hours.
        assert "in-progress" in text(d, "restores") or "available" in text(d, "restores"), \
            text(d, "restores")
        shot(d, shots, "restore-desktop")
        fit(d, DESKTOP)

        # A quick check of every archive.
        go(d, url, "dashboard")
        wait(d, "the dashboard", lambda: "/" in text(d, "protected"))
        state = run_task(d, d.find_element(By.CSS_SELECTOR, "[data-action=verify-quick]"),
                         "quick check")
        assert state == "complete", text(d, "task")
        assert "passed, 0 failed" in text(d, "task"), text(d, "task")

        # Tasks.
        go(d, url, "tasks")
        wait(d, "the task list", lambda: len(d.find_elements(By.CSS_SELECTOR, "#tasks tbody tr")) >= 3)
        shot(d, shots, "tasks-desktop")
        fit(d, DESKTOP)

        # The config: a bad value is refused, with the error at its key.
        go(d, url, "config")
        key = "upload_settings.max_concurrency"
        box = f'.field[data-key="{key}"]'
        wait(d, "the config form", lambda: d.find_elements(By.CSS_SELECTOR, box))
        field = d.find_element(By.CSS_SELECTOR, box + " input")
        field.clear()
        field.send_keys("many")
        d.find_element(By.ID, "config-save").click()
        wait(d, "the error at its key",
             lambda: d.find_element(By.CSS_SELECTOR, box + " .field-error").is_displayed())
        error = d.find_element(By.CSS_SELECTOR, box + " .field-error").text
        assert error, "an empty error"
        assert "invalid" in d.find_element(By.CSS_SELECTOR, box).get_attribute("class")
        print("config error at", key, ":", error)
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
        shot(d, shots, "config-error-desktop")
        fit(d, DESKTOP)
    finally:
        d.quit()

    # Every page at a phone's width.
    p = browser(PHONE)
    try:
        for view in ("dashboard", "sessions", "restore", "tasks", "config"):
            go(p, url, view)
            time.sleep(0.8)
            scroll = p.execute_script("return document.documentElement.scrollWidth")
            wide = p.execute_script("""
                const out = [];
                for (const e of document.querySelectorAll('body *')) {
                  const r = e.getBoundingClientRect();
                  if (r.width > 0 && r.right > window.innerWidth + 1 && !e.closest('.scroll, pre'))
                    out.push(e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(r.right));
                }
                return out.slice(0, 10);""")
            assert scroll <= PHONE[0] + 1, \
                f"{view} is {scroll} px wide on a {PHONE[0]} px phone: {wide}"
            shot(p, shots, f"{view}-phone")
            fit(p, PHONE)
        p.get(url + "#session/" + session_id)
        wait(p, "the session on a phone", lambda: p.find_elements(By.CSS_SELECTOR, "#members tbody tr"))
        shot(p, shots, "session-phone")
    finally:
        p.quit()
    print("browser walk passed")


def bench(url, runs):
    """Page weight (bytes over the wire on a first load, cache empty) and time to
    first paint and to the dashboard's numbers, medians of RUNS fresh browsers."""
    weights, paints, ready = [], [], []
    for _ in range(runs):
        d = browser(DESKTOP)
        try:
            d.get(url)
            WebDriverWait(d, 60, poll_frequency=0.02).until(
                lambda _: "/" in d.find_element(By.ID, "protected").text)
            m = d.execute_script("""
                const nav = performance.getEntriesByType('navigation')[0];
                const res = performance.getEntriesByType('resource');
                const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                return {
                  weight: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
                  decoded: nav.decodedBodySize + res.reduce((a, r) => a + r.decodedBodySize, 0),
                  requests: 1 + res.length,
                  fcp: fcp ? fcp.startTime : null,
                  now: performance.now(),
                };""")
            weights.append(m["weight"])
            paints.append(m["fcp"])
            ready.append(m["now"])
            print(json.dumps(m))
        finally:
            d.quit()
    print(json.dumps({
        "page_weight_bytes": statistics.median(weights),
        "first_contentful_paint_ms": statistics.median(paints),
        "dashboard_numbers_ms": statistics.median(ready),
        "runs": runs,
    }))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "test":
        test(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "bench":
        bench(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
