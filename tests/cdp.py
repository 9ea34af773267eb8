"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (standard library only).

Headless Chromium reads NUL-terminated JSON commands from its file descriptor 3 and writes replies
and events to descriptor 4; no websocket library and no port are needed. The tests use it to open
the built site from ``file://``, type into the search box, evaluate JavaScript in a page (or in an
iframe of it) and take screenshots at a reader's window size.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: anything fetched from a host fails
)


def chromium(purpose: str) -> str:
    """The headless browser's executable (Debian's ``chromium`` first).

    Args:
        purpose: what the calling tests check, for the failure message.

    Returns:
        The path of the first of chromium, chromium-browser, google-chrome on PATH; when there is
        none the test fails (never skips) and says how to install one.
    """
    import pytest

    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        f"headless Chromium is required for {purpose} and was not found: "
        "install Debian's package with `apt-get install -y chromium`"
    )


class CDPError(RuntimeError):
    """A command answered with an error, or a page never reached the awaited state."""


class Browser:
    """One headless Chromium with one tab, driven over the DevTools pipe.

    Args:
        executable: the chromium binary.
        profile: an empty folder for the browser profile.
        width, height: the window size in CSS pixels (a reader's laptop: 1280 × 900).
    """

    def __init__(self, executable: str, profile: Path, width: int = 1280, height: int = 900):
        cmd_r, self._cmd_w = os.pipe()  # we write commands, the browser reads its fd 3
        self._evt_r, evt_w = os.pipe()  # the browser writes its fd 4, we read
        # the browser's ends moved to descriptors >= 10, then put at 3 and 4 by the shell that
        # execs the browser (every other descriptor of this process stays closed in the child)
        hi_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
        hi_w = fcntl.fcntl(evt_w, fcntl.F_DUPFD, 10)
        os.close(cmd_r)
        os.close(evt_w)
        argv = [
            executable,
            *FLAGS,
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            [
                "/bin/bash",
                "-c",
                f'exec "$@" 3<&{hi_r} 4>&{hi_w} {hi_r}<&- {hi_w}>&-',
                "bash",
                *argv,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(hi_r, hi_w),
        )
        os.close(hi_r)  # the child has them
        os.close(hi_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        try:
            self._attach(width, height)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise

    def _attach(self, width: int, height: int) -> None:
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        self.page("Page.enable")
        self.page("Runtime.enable")
        self.page(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    # -- the protocol ---------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._evt_r], [], [], left)[0]:
                raise CDPError("no answer from the browser")
            chunk = os.read(self._evt_r, 1 << 20)
            if not chunk:
                raise CDPError("the browser closed its DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params):
        """Send one command (to the browser, or to ``session``) and return its result."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def page(self, method: str, **params):
        """A command to the tab."""
        return self.send(method, session=self.session, **params)

    # -- what the tests do ----------------------------------------------------------------------
    def open(self, url: str, timeout: float = 60) -> None:
        """Navigate the tab to ``url`` and wait for its load event."""
        self.events.clear()
        self.page("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", timeout=timeout)

    def js(self, expression: str, context: int | None = None):
        """Evaluate ``expression`` (promises awaited) in the page or an execution context."""
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        if context is not None:
            params["contextId"] = context
        res = self.page("Runtime.evaluate", **params)
        if "exceptionDetails" in res:
            raise CDPError(f"{expression[:80]}: {res['exceptionDetails'].get('text')}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30, context: int | None = None):
        """Poll ``expression`` until it is truthy; return its value (CDPError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.js(expression, context)
            except CDPError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise CDPError(f"timed out after {timeout} s waiting for: {expression}")
            time.sleep(0.2)

    def frame_context(self, url_suffix: str, timeout: float = 30) -> int:
        """The JavaScript execution context of the (i)frame whose address ends in ``url_suffix``."""
        deadline = time.monotonic() + timeout
        while True:
            tree = self.page("Page.getFrameTree")["frameTree"]
            stack, frame_id = [tree], None
            while stack:
                node = stack.pop()
                if node["frame"]["url"].split("#")[0].endswith(url_suffix):
                    frame_id = node["frame"]["id"]
                stack.extend(node.get("childFrames", []))
            if frame_id:
                for ev in self.events:
                    ctx = ev.get("params", {}).get("context", {})
                    aux = ctx.get("auxData", {})
                    if (
                        ev.get("method") == "Runtime.executionContextCreated"
                        and aux.get("frameId") == frame_id
                        and aux.get("isDefault")
                    ):
                        return ctx["id"]
                self.js("0")  # read pending events
            if time.monotonic() > deadline:
                raise CDPError(f"no frame loaded {url_suffix}")
            time.sleep(0.2)

    def type_text(self, text: str) -> None:
        """Type ``text`` into the focused element, key by key (input and keyup events fire)."""
        for ch in text:
            self.page("Input.dispatchKeyEvent", type="keyDown", text=ch, key=ch)
            self.page("Input.dispatchKeyEvent", type="keyUp", key=ch)

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        """A PNG of the viewport (or the whole page) at the window's size."""
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.page("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except CDPError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._evt_r)
