"""Headless Firefox driven over WebDriver BiDi, the W3C protocol Firefox serves itself on a
WebSocket (`--remote-debugging-port`): no geckodriver, which Debian does not package. Only what the
console's tests use: navigate, run a script, wait for a condition, click, type, screenshot."""

from __future__ import annotations

import base64
import itertools
import json
import queue
import shutil
import subprocess
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from websockets.sync.client import connect

# WebDriver's codes for the keys that are not characters (the same Selenium's Keys sends).
ENTER = "\ue007"
CONTROL = "\ue009"
MODIFIERS = {CONTROL, "\ue008", "\ue00a", "\ue03d"}  # Control, Shift, Alt, Meta: held until the end
# The page cannot push a condition to us and a script awaiting one dies unanswered when the page
# navigates (Firefox 153 never replies to it): conditions are polled, this often.
POLL = 0.05
TIMEOUT = 30  # for Firefox to start, and to answer any one command
PREFERENCES = {
    "intl.accept_languages": "zh-CN",
    "media.autoplay.default": 0,  # allowed: the player starts at a transcript click without a prompt
    "media.volume_scale": "0.0",
}


class BiDiError(Exception):
    """Firefox refused a command or a script threw; the message is Firefox's."""


class Firefox:
    """One headless Firefox with a profile in `profile`; its commands go to the tab of `tab()`."""

    def __init__(self, profile: Path) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "user.js").write_text("".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n"
                                                 for k, v in PREFERENCES.items()))
        self._ids = itertools.count(1)
        self._closing = ExitStack()
        # Port 0: Firefox picks a free one and says which on stderr.
        self._process = subprocess.Popen(
            [shutil.which("firefox-esr") or shutil.which("firefox"), "--headless", "--no-remote",
             "--remote-debugging-port", "0", "--profile", str(profile), "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._closing.callback(self._stop)
        listening: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_stderr, args=(listening,), daemon=True).start()
        try:
            url = listening.get(timeout=TIMEOUT)
            if url is None:
                raise BiDiError(f"Firefox exited ({self._process.wait()}) without listening for WebDriver BiDi")
            self._socket = self._closing.enter_context(connect(url + "/session", max_size=None))
            self.command("session.new", capabilities={})
        except BaseException:
            self.close()
            raise

    def _read_stderr(self, listening: queue.Queue) -> None:
        """Put the WebSocket's address in `listening` (None if Firefox exits first), then read on:
        a full pipe would stop Firefox."""
        with self._process.stderr as stderr:
            for line in stderr:
                if line.startswith("WebDriver BiDi listening on "):
                    listening.put(line.split()[-1])
        listening.put(None)

    @contextmanager
    def tab(self, width: int = 1366, height: int = 768):
        """A new tab at `width`x`height` with cookies and storage of its own (a user context, as
        a fresh browser would have), closed at the end."""
        user = self.command("browser.createUserContext")["userContext"]
        try:
            self.context = self.command("browsingContext.create", type="tab", userContext=user)["context"]
            self.command("browsingContext.setViewport", context=self.context,
                         viewport={"width": width, "height": height})
            yield self
        finally:
            self.command("browser.removeUserContext", userContext=user)

    def close(self) -> None:
        self._closing.close()

    def _stop(self) -> None:
        self._process.kill()
        self._process.wait()

    def command(self, method: str, **params) -> dict:
        """Send one command and return its result (events, not subscribed to, do not arrive)."""
        id = next(self._ids)
        self._socket.send(json.dumps({"id": id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=TIMEOUT))
            if message.get("id") == id:
                break
        if message["type"] == "error":
            raise BiDiError(f"{method}: {message['error']}: {message['message']}")
        return message["result"]

    def get(self, url: str) -> None:
        self.command("browsingContext.navigate", context=self.context, url=url, wait="complete")

    def js(self, body: str, *args):
        """The value of function `body` called with `args` in the page (both through JSON)."""
        result = self.command(
            "script.callFunction", target={"context": self.context}, awaitPromise=True,
            functionDeclaration=f"async function (args) {{ const value = await (async function () {{ {body} }})"
                                f"(...JSON.parse(args)); return JSON.stringify(value === undefined ? null : value); }}",
            arguments=[{"type": "string", "value": json.dumps(args)}])
        if result["type"] == "exception":
            raise BiDiError(result["exceptionDetails"]["text"])
        return json.loads(result["result"]["value"])

    def wait(self, body: str, *args, timeout: float = 15):
        """The first truthy value of `js(body, *args)` within `timeout` seconds; a script error
        (the page navigating, an element not there yet) counts as not yet."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.js(body, *args)
            except BiDiError as error:
                value, last = None, error
            else:
                last = value
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {timeout} s: {body} (last: {last})")
            time.sleep(POLL)

    def wait_visible(self, selector: str) -> None:
        self.wait("return document.querySelector(arguments[0])?.checkVisibility()", selector)

    def _element(self, selector: str) -> dict:
        """The element `selector` finds once it is visible, scrolled to the middle of the viewport."""
        self.wait_visible(selector)
        result = self.command(
            "script.callFunction", target={"context": self.context}, awaitPromise=False,
            functionDeclaration="function (s) { const e = document.querySelector(s);"
                                " e.scrollIntoView({block: 'center'}); return e; }",
            arguments=[{"type": "string", "value": selector}])
        return {"sharedId": result["result"]["sharedId"]}

    def click(self, selector: str) -> None:
        """A mouse click in the middle of the element `selector` finds."""
        self.command("input.performActions", context=self.context, actions=[{
            "type": "pointer", "id": "mouse", "actions": [
                {"type": "pointerMove", "x": 0, "y": 0,
                 "origin": {"type": "element", "element": self._element(selector)}},
                {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}])

    def type(self, selector: str, keys: str) -> None:
        """Click the element `selector` finds and type `keys` into it."""
        self.click(selector)
        self.keys(keys)

    def keys(self, keys: str) -> None:
        """Type `keys` (characters, ENTER; CONTROL held to the end) where the focus is."""
        actions, held = [], []
        for key in keys:
            actions.append({"type": "keyDown", "value": key})
            if key in MODIFIERS:
                held.append(key)
            else:
                actions.append({"type": "keyUp", "value": key})
        actions += [{"type": "keyUp", "value": key} for key in reversed(held)]
        self.command("input.performActions", context=self.context,
                     actions=[{"type": "key", "id": "keyboard", "actions": actions}])
        self.command("input.releaseActions", context=self.context)

    def screenshot(self, path: Path) -> None:
        data = self.command("browsingContext.captureScreenshot", context=self.context)["data"]
        path.write_bytes(base64.b64decode(data))
