"""Council sign-in (README "Signing in with the council's account"): OpenID Connect against a local mock
provider (`oidc-provider-mock`) started by the test, in Chromium, the web app as a process of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oidc_provider_mock import User, run_server_in_thread
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DevServer, Stack, secure, web_app
from tests.e2e.test_web import ROLES, browser, page  # noqa: F401

LINKED = "jo.jones@council.example"  # the provider's user, linked to lp-jones in [oidc]
UNVERIFIED = "tm.patel@council.example"  # linked to tm-patel, but the provider has not verified the address
STRANGER = "stranger@council.example"  # verified, linked to nobody
USERS = [
    User(sub=LINKED, claims={"email": LINKED, "email_verified": True}),
    User(sub=UNVERIFIED, claims={"email": UNVERIFIED, "email_verified": False}),
    User(sub=STRANGER, claims={"email": STRANGER, "email_verified": True}),
]


@pytest.fixture(scope="module")
def council_web(dev_server: DevServer, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("oidc")
    stack = Stack(dev_server, database_url, folder)
    signing_key = secure(stack, ROLES + f'\n[oidc]\n"{LINKED}" = "lp-jones"\n"{UNVERIFIED}" = "tm-patel"\n')
    with (
        run_server_in_thread(port=0, user_claims=USERS) as provider,
        web_app(
            {
                **stack.env,
                "EARLYHELP_SIGNING_KEY": str(signing_key),
                "EARLYHELP_OIDC_ISSUER": f"http://localhost:{provider.server_port}",
                "EARLYHELP_OIDC_CLIENT_ID": "earlyhelp-web",
                "EARLYHELP_OIDC_CLIENT_SECRET": "a client secret",
            },
            folder,
        ) as url,
    ):
        yield url


def council_sign_in(page: Page, url: str, path: str, account: str) -> None:  # noqa: F811
    page.goto(url + path)
    page.get_by_role("link", name="Sign in with your council account").click()
    page.fill("input[name=sub]", account)  # the provider's own sign-in page
    page.get_by_role("button", name="Authorize").click()


def test_a_person_signs_in_with_their_council_account_and_lands_where_they_were_going(council_web: str, page: Page):  # noqa: F811
    council_sign_in(page, council_web, "/refer", LINKED)
    expect(page.locator(".signout")).to_contain_text("lp-jones")
    assert page.url == council_web + "/refer"
    page.get_by_role("button", name="Sign out").click()
    page.goto(council_web + "/cases")
    assert page.url.startswith(council_web + "/sign-in")


def test_a_council_account_not_linked_to_a_staff_id_is_refused(council_web: str, page: Page):  # noqa: F811
    council_sign_in(page, council_web, "/cases", STRANGER)
    expect(page.get_by_role("alert")).to_contain_text("not linked to a staff id")
    page.goto(council_web + "/cases")
    assert page.url.startswith(council_web + "/sign-in")


def test_an_address_the_provider_has_not_verified_signs_nobody_in(council_web: str, page: Page):  # noqa: F811
    """The account is linked to a staff id by its email address, which the provider says it has not verified:
    anyone could have set it, so nobody is signed in."""
    council_sign_in(page, council_web, "/cases", UNVERIFIED)
    expect(page.get_by_role("alert")).to_contain_text("not verified")
    page.goto(council_web + "/cases")
    assert page.url.startswith(council_web + "/sign-in")


def test_a_callback_not_started_here_signs_nobody_in(council_web: str, page: Page):  # noqa: F811
    page.goto(council_web + "/sign-in/oidc/callback?code=forged&state=forged")
    expect(page.get_by_role("alert")).to_contain_text("not started here")
    page.goto(council_web + "/cases")
    assert page.url.startswith(council_web + "/sign-in")


def test_a_forged_state_while_a_sign_in_is_pending_signs_nobody_in(council_web: str, page: Page):  # noqa: F811
    """A sign-in started here (its state held in the session), then a callback with another state, as a
    forged link would bring: refused for its state, before any code is exchanged."""
    page.goto(council_web + "/cases")
    page.get_by_role("link", name="Sign in with your council account").click()
    page.wait_for_selector("input[name=sub]")  # at the provider: the sign-in is pending
    page.goto(council_web + "/sign-in/oidc/callback?code=forged&state=forged")
    expect(page.get_by_role("alert")).to_contain_text("not started here")
    page.goto(council_web + "/cases")
    assert page.url.startswith(council_web + "/sign-in")
