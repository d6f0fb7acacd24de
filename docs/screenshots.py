"""Screenshots of the web app for the README, taken from `make run`'s demo in headless Chromium.

python docs/screenshots.py http://localhost:8080 "$(cat .data/demo-password)"
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).parent
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def main(base: str, password: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="en-GB")

        def sign_in(person: str) -> None:
            page.goto(base + "/sign-in")
            page.fill("#user", person)
            page.fill("#password", password)
            page.get_by_role("button", name="Sign in").click()

        sign_in("tm-patel")
        page.goto(base + "/inbox")
        page.screenshot(path=HERE / "inbox.png", full_page=True)
        sign_in("lp-jones")  # a practitioner in North West, with a case waiting for first contact
        page.goto(base + "/cases")
        page.locator("#mine + table tr", has_text="initial contact").get_by_role("link").first.click()
        page.screenshot(path=HERE / "case.png")  # the top of the page: the case, its family
        page.goto(base + "/cases?stage=plan_active")
        page.locator("#found ~ table tbody tr").first.get_by_role("link").first.click()
        page.get_by_role("link", name="Print view").click()
        page.screenshot(path=HERE / "chronology.png")
        page.goto(base + "/cases?status=closed")
        page.screenshot(path=HERE / "cases.png")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
