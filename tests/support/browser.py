"""Headless Chromium driven through chromedriver's plain HTTP WebDriver API (no browser
download, no Selenium): Debian's ``chromium`` package ships both binaries."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

from support.services import free_port
from tools.airflow_services import wait

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


class WebDriverError(ValueError):
    """An error answer from chromedriver (a ValueError, so ``wait`` retries it)."""


def find_chromium() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both are installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists()
                                              else None)
    return (browser, driver) if browser and driver else None


class Browser:
    def __init__(self, chromium: str, chromedriver: str, shots: Path) -> None:
        self.shots = shots
        shots.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.driver = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        wait(lambda: self.http.get("/status").json()["value"]["ready"], 20, "chromedriver")
        answer = self.http.post("/session", json={"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900"]}}}})
        self.session = f"/session/{self._value(answer)['sessionId']}"

    @staticmethod
    def _value(answer: httpx.Response) -> Any:
        body = answer.json()
        if answer.status_code >= 400:
            raise WebDriverError(f"WebDriver error {answer.status_code}: {body}")
        return body["value"]

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        return self._value(self.http.request(method, f"{self.session}{path}", json=body))

    def open(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def url(self) -> str:
        return self.call("GET", "/url")

    def source(self) -> str:
        return self.call("GET", "/source")

    def text(self) -> str:
        """The page's visible text (as a person reads it)."""
        return self.call("POST", "/execute/sync", {"script": "return document.body.innerText", "args": []})

    def find(self, css: str, timeout: float = 30) -> str:
        """The element (waiting for the single-page app to render it)."""
        return wait(lambda: self.call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT],
                          timeout, f"element {css}")

    def type(self, css: str, text: str) -> None:
        self.call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self.call("POST", f"/element/{self.find(css)}/click", {})

    def wait_text(self, needle: str, timeout: float = 60, frame_css: str | None = None) -> str:
        """Until the visible text (of the page, or of an iframe's document) contains ``needle``."""
        def check() -> str | None:
            if frame_css:
                script = ("const f = document.querySelector(arguments[0]);"
                          "return f && f.contentDocument && f.contentDocument.body"
                          " ? f.contentDocument.body.innerText : '';")
                text = self.call("POST", "/execute/sync", {"script": script, "args": [frame_css]})
            else:
                text = self.text()
            return text if needle in text else None

        return wait(check, timeout, f"{needle!r} on {self.url()}")

    def wait_url(self, predicate: Any, timeout: float = 60) -> str:
        return wait(lambda: (u := self.url()) and predicate(u) and u, timeout, "the page to change")

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        path.write_bytes(base64.b64decode(self.call("GET", "/screenshot")))
        return path

    def close(self) -> None:
        try:
            self.http.delete(self.session)
        finally:
            self.driver.terminate()
            try:
                self.driver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
