#!/usr/bin/python3
"""The chat page in a real browser: headless Chromium from Debian, driven by python3-selenium with
chromium-driver. Two browser users and one TCP (`line` dialect) user chat in one room of one service;
a private message is shown apart; text from the network stays text; a taken nickname, a full room and a line too
long are told; the page reconnects after the host reloads the service, keeping what is on screen;
and on a phone-sized screen nothing overflows sideways.

usage: chat_page.py PAGE_URL TCP_PORT RELOAD_COMMAND ARTIFACT_DIR
  RELOAD_COMMAND is run through the shell when the test wants the host to restart the service.
Prints one "ok: ..." line per check; exits non-zero on the first failure, saying which.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

PAGE, TCP_PORT, RELOAD, ARTIFACTS = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
WAIT = 30  # seconds any one expectation may take (generous: sanitizer builds and a loaded machine)
drivers = []


def fail(what):
    print("FAIL: " + what, flush=True)
    for index, driver in enumerate(drivers):
        try:
            driver.save_screenshot(os.path.join(ARTIFACTS, "failure-%d.png" % index))
            log = driver.execute_script("return document.body.innerText")
            print("--- browser %d shows:\n%s" % (index, log[-3000:]), flush=True)
        except Exception as error:  # the browser may be what failed
            print("(no screenshot of browser %d: %s)" % (index, error))
    sys.exit(1)


def ok(what):
    print("ok: " + what, flush=True)


def browser(width=1280, height=800, mobile=False):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=%d,%d" % (width, height),
                 "--user-data-dir=" + tempfile.mkdtemp(prefix="chat-page-")):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    drivers.append(driver)
    # Headless Chromium keeps a window at least 500 px wide: a phone's viewport is emulated instead.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
    # window.alert must never run: a page that executed network text would set this.
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                           {"source": "window.__alerts = 0; window.alert = () => { window.__alerts++; };"})
    return driver


def until(driver, what, condition):
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(lambda d: condition(d))
    except Exception:
        fail(what)


def pane_text(driver):
    return driver.execute_script(
        "const p = [...document.querySelectorAll('.pane')].find(x => !x.hidden); return p ? p.innerText : ''")


def people(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#people-list button')].map(b => b.textContent)")


def log_in(driver, nick):
    driver.get(PAGE)
    field = until(driver, "the nickname field appears", lambda d: d.find_element(By.ID, "nick-input"))
    field.clear()
    field.send_keys(nick + Keys.ENTER)


def type_line(driver, text):
    box = driver.find_element(By.ID, "message-input")
    box.clear()  # a refused line stays in the box for the user to edit; these tests type afresh
    box.send_keys(text + Keys.ENTER)


class LineUser:
    """A person on nc: the chat service's TCP listener, line dialect."""

    def __init__(self, nick):
        self.sock = socket.create_connection(("127.0.0.1", TCP_PORT), timeout=WAIT)
        self.buffer = b""
        self.read_until(b"Choose a nickname")
        self.send(nick)
        self.read_until(b"Welcome, " + nick.encode())

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def read_until(self, needle):
        deadline = time.monotonic() + WAIT
        while needle not in self.buffer:
            if time.monotonic() > deadline:
                fail("the TCP user waited for %r; it has %r" % (needle, self.buffer[-500:]))
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                fail("the TCP user was disconnected waiting for %r" % needle)
            self.buffer += chunk
        return self.buffer


def main():
    alice = browser()
    log_in(alice, "alice")
    until(alice, "alice gets in", lambda d: "You are in" in pane_text(d))
    bob = browser()
    log_in(bob, "bob")
    until(bob, "bob gets in", lambda d: "You are in" in pane_text(d))
    until(alice, "alice sees bob join", lambda d: "bob joined" in pane_text(d))
    carol = LineUser("carol")
    until(alice, "alice sees carol (TCP) join", lambda d: "carol joined" in pane_text(d))
    until(alice, "alice's people list has all three",
          lambda d: {"alice", "bob", "carol"} <= {n.lstrip("@+") for n in people(d)})
    ok("two browser users and a TCP user are in one room, and the page lists them")

    type_line(alice, "hello from the browser")
    until(bob, "bob sees alice's line", lambda d: "hello from the browser" in pane_text(d))
    carol.read_until(b"alice: hello from the browser")
    carol.send("hello from nc")
    until(alice, "alice sees carol's line", lambda d: "hello from nc" in pane_text(d))
    until(bob, "bob sees carol's line", lambda d: "hello from nc" in pane_text(d))
    ok("messages go both ways between the browsers and nc")

    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    carol.send(hostile)
    until(alice, "the hostile line arrives as text", lambda d: hostile in pane_text(d))
    if alice.execute_script("return document.querySelectorAll('.pane img, .pane script').length") != 0:
        fail("markup from the network became elements")
    if alice.execute_script("return window.__alerts") != 0:
        fail("script from the network ran")
    ok("HTML from the network is shown as text and never runs")

    type_line(bob, "/msg alice just between us")
    until(alice, "a private tab for bob appears",
          lambda d: any(t.text.startswith("bob") for t in d.find_elements(By.CSS_SELECTOR, "[role=tab]")))
    if "just between us" in pane_text(alice):
        fail("the private message was shown in the room")
    for tab in alice.find_elements(By.CSS_SELECTOR, "[role=tab]"):
        if tab.text.startswith("bob"):
            tab.click()
    until(alice, "the private tab shows bob's message", lambda d: "just between us" in pane_text(d))
    alice.find_elements(By.CSS_SELECTOR, "[role=tab]")[0].click()
    until(alice, "back in the room", lambda d: "hello from nc" in pane_text(d))
    ok("a private message is shown apart, in its own tab")
    alice.save_screenshot(os.path.join(ARTIFACTS, "chat-desktop.png"))

    type_line(alice, "x" * 600)
    until(alice, "a line too long is told", lambda d: "too long" in d.find_element(By.ID, "composer-error").text)
    if alice.find_element(By.ID, "message-input").get_attribute("value") != "x" * 600:
        fail("the refused line was not kept in the box for editing")
    ok("a line too long is refused with a clear message, before it is sent, and kept for editing")

    third = browser()
    log_in(third, "alice")
    until(third, "a taken nickname is told",
          lambda d: "taken" in d.find_element(By.ID, "login-error").text)
    ok("a taken nickname is told on the login form")

    # A room full: erin makes #full and limits it to one member (she is its operator as its first
    # joiner); the refused browser user is told so in words, and stays where they were.
    erin = browser()
    log_in(erin, "erin")
    until(erin, "erin gets in", lambda d: "You are in" in pane_text(d))
    type_line(erin, "/join #full")
    until(erin, "erin is in #full", lambda d: "You are in #full" in pane_text(d))
    type_line(erin, "/quote MODE #full +l 1")
    until(erin, "the limit is set", lambda d: "+l 1" in pane_text(d))
    field = third.find_element(By.ID, "nick-input")
    field.clear()
    field.send_keys("frank" + Keys.ENTER)
    until(third, "frank gets in", lambda d: "You are in" in pane_text(d))
    type_line(third, "/join #full")
    until(third, "a full room is told", lambda d: "Cannot join #full: the room is full" in pane_text(d))
    ok("a full room is told in words")

    # The keyboard: Alt+Right and Alt+Left move between tabs; Enter in the box sends (used throughout).
    tabs = lambda d: [t.get_attribute("aria-selected") for t in d.find_elements(By.CSS_SELECTOR, "[role=tab]")]
    before_tabs = tabs(erin)
    erin.find_element(By.ID, "message-input").send_keys(Keys.ALT, Keys.ARROW_LEFT)
    until(erin, "Alt+Left selects the other tab", lambda d: tabs(d) != before_tabs)
    ok("the keyboard switches tabs")
    for each in (third, erin):
        each.quit()
        drivers.remove(each)

    before = pane_text(alice)
    subprocess.run(RELOAD, shell=True, check=True)
    until(alice, "the page says it was disconnected", lambda d: "Disconnected" in pane_text(d))
    until(alice, "the page reconnects", lambda d: "connected as" in d.find_element(By.ID, "state").text
          and pane_text(d).count("You are in") >= 2)
    if "hello from nc" not in pane_text(alice) or len(pane_text(alice)) < len(before):
        fail("what was on screen before the reload was lost")
    until(bob, "bob reconnects too", lambda d: "connected as" in d.find_element(By.ID, "state").text
          and pane_text(d).count("You are in") >= 2)
    type_line(alice, "back after the reload")
    until(bob, "bob sees the line sent after the reload", lambda d: "back after the reload" in pane_text(d))
    ok("a reload of the service reconnects the page, keeping what was on screen")

    phone = browser(390, 844, mobile=True)
    log_in(phone, "dana")
    until(phone, "dana gets in on a phone-sized screen", lambda d: "You are in" in pane_text(d))
    if phone.execute_script("return window.innerWidth") != 390:
        fail("the phone-sized viewport is %s px wide, not 390" % phone.execute_script("return window.innerWidth"))
    overflow = phone.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        fail("the phone-sized page overflows sideways by %d px" % overflow)
    phone.find_element(By.ID, "toggle-people").click()
    until(phone, "the people panel opens on a phone", lambda d: d.find_element(By.ID, "people").is_displayed())
    phone.save_screenshot(os.path.join(ARTIFACTS, "chat-phone.png"))
    ok("a phone-sized screen shows the page without sideways scrolling, and the people panel opens")


try:
    main()
finally:
    for each in drivers:
        try:
            each.quit()
        except Exception:
            pass
print("all checks passed", flush=True)
