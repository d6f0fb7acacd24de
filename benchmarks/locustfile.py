"""Staff using the web app, for `benchmarks.web_load` (locust): managers on the inbox and the case list,
practitioners on their cases' pages, chronologies and forms. Each signs in once with a staff id and password,
as the demo's people do. Configured by the environment web_load sets: EARLYHELP_LOAD_PASSWORD,
EARLYHELP_LOAD_CASES (JSON: each manager's and practitioner's id to the real, running cases they may see)
and EARLYHELP_LOAD_SEARCH (case ids of the read model to search for).
"""

from __future__ import annotations

import json
import os
import random
import re

from locust import HttpUser, between, task

PASSWORD = os.environ.get("EARLYHELP_LOAD_PASSWORD", "")
CASES: dict[str, list[str]] = json.loads(os.environ.get("EARLYHELP_LOAD_CASES", "{}"))
SEARCH = json.loads(os.environ.get("EARLYHELP_LOAD_SEARCH", "[]"))
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Staff(HttpUser):
    abstract = True
    wait_time = between(1, 4)  # reading a page, filling in a form
    prefix = ""  # whose ids this kind of user signs in with

    def on_start(self) -> None:
        person = random.choice([p for p in CASES if p.startswith(self.prefix)])
        self.cases = CASES[person]
        page = self.client.get("/sign-in", name="/sign-in")
        token = CSRF.search(page.text)[1]
        self.client.post("/sign-in", data={"csrf": token, "user": person, "password": PASSWORD}, name="/sign-in (post)")

    def case(self) -> str:
        return random.choice(self.cases)


class Manager(Staff):
    weight = 1
    prefix = "tm-"

    def on_start(self) -> None:
        super().on_start()
        self.inbox()  # where a manager lands after signing in (and so every run has the inbox at least once)

    @task(4)
    def inbox(self) -> None:
        self.client.get("/inbox", name="/inbox")

    @task(2)
    def overdue_cases(self) -> None:
        self.client.get(f"/cases?overdue=1&page={random.randint(1, 6)}", name="/cases?overdue=1&page=N")

    @task(2)
    def find_a_case(self) -> None:
        self.client.get(f"/cases?text={random.choice(SEARCH)}", name="/cases?text=ID")

    @task(1)
    def a_case(self) -> None:
        self.client.get(f"/cases/{self.case()}", name="/cases/ID")


class Practitioner(Staff):
    weight = 3
    prefix = "lp-"

    @task(2)
    def my_cases(self) -> None:
        self.client.get("/cases", name="/cases")

    @task(5)
    def a_case(self) -> None:
        self.client.get(f"/cases/{self.case()}", name="/cases/ID")

    @task(1)
    def chronology(self) -> None:
        self.client.get(f"/cases/{self.case()}/chronology", name="/cases/ID/chronology")

    @task(1)
    def add_a_case_note(self) -> None:
        case = self.case()
        page = self.client.get(f"/cases/{case}", name="/cases/ID")
        if match := CSRF.search(page.text):
            self.client.post(
                f"/cases/{case}/commands/add_case_note",
                data={"csrf": match[1], "text": "Spoke to the school: attendance is improving."},
                name="/cases/ID/commands/add_case_note",
            )
