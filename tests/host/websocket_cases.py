#!/usr/bin/python3
"""WebSocket cases against a real plughostd, driven by tests/host/websocket_test.cpp.

Usage: websocket_cases.py CASE PORT [PORT...]. Prints "PASS CASE" when every check held, else the first
failed check and exits 1. Well-behaved clients use Python's websockets (Debian's 10.4, asyncio API); the
ones that must misbehave (unmasked frames, reserved bits, a slow or oversized handshake) are raw sockets.
"""
import asyncio
import base64
import os
import socket
import struct
import sys
import time

import websockets

DEADLINE = 10.0


def check(condition, what):
    if not condition:
        print("FAIL", what)
        sys.exit(1)


# ---- raw client -------------------------------------------------------------------------------------

class Raw:
    def __init__(self, port, path="/", headers=None, handshake=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.buf = b""
        if handshake:
            key = base64.b64encode(os.urandom(16)).decode()
            lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port, "Upgrade: websocket",
                     "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
            lines += headers or []
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            head = self.read_head()
            check(head.startswith(b"HTTP/1.1 101"), "upgrade answered 101: %r" % head)

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head

    def read_all(self):
        """Everything until the server closes the connection."""
        data = self.buf
        self.buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        return data

    def frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
        header = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
        n = len(payload) if length is None else length
        bit = 0x80 if mask else 0
        if n < 126:
            header += bytes([bit | n])
        elif n < 65536:
            header += bytes([bit | 126]) + struct.pack("!H", n)
        else:
            header += bytes([bit | 127]) + struct.pack("!Q", n)
        if mask:
            key = os.urandom(4)
            header += key
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return header + payload

    def send(self, *args, **kwargs):
        self.sock.sendall(self.frame(*args, **kwargs))

    def recv_frame(self):
        """(opcode, payload), or None once the connection closed."""
        while True:
            if len(self.buf) >= 2:
                n = self.buf[1] & 0x7F
                at = 2
                if n == 126:
                    n, at = (struct.unpack("!H", self.buf[2:4])[0], 4) if len(self.buf) >= 4 else (None, 0)
                elif n == 127:
                    n, at = (struct.unpack("!Q", self.buf[2:10])[0], 10) if len(self.buf) >= 10 else (None, 0)
                if n is not None and len(self.buf) >= at + n:
                    check(self.buf[1] & 0x80 == 0, "server frames are not masked")
                    opcode, payload = self.buf[0] & 0x0F, self.buf[at:at + n]
                    self.buf = self.buf[at + n:]
                    return opcode, payload
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk

    def close_code(self):
        """The code of the close frame the server sends next (skipping other frames), or None."""
        while True:
            got = self.recv_frame()
            if got is None:
                return None
            if got[0] == 8:
                return struct.unpack("!H", got[1][:2])[0] if len(got[1]) >= 2 else 1005


def http(port, request):
    """A raw HTTP exchange: the whole answer until the server closes."""
    raw = Raw(port, handshake=False)
    raw.sock.sendall(request)
    return raw.read_all()


# ---- cases ------------------------------------------------------------------------------------------

async def close_code_of(ws):
    try:
        await asyncio.wait_for(ws.recv(), DEADLINE)
    except websockets.ConnectionClosed as closed:
        return closed.code
    return None


async def case_raw_mapping(port):
    async with websockets.connect("ws://127.0.0.1:%d/echo" % port) as ws:
        await ws.send(b"\x00\x01binary")
        check(await ws.recv() == b"\x00\x01binary", "a binary message is one chunk, echoed as binary")
        await ws.send("text é")
        check(await ws.recv() == "text é".encode(), "a text message is one chunk, echoed as one binary message")
        await ws.send(["frag", "men", "ted"])
        check(await ws.recv() == b"fragmented", "a fragmented message is one chunk")
        big = os.urandom(60000)
        await ws.send(big)
        check(await ws.recv() == big, "a 60 kB message is one chunk, one send one message")
        check(ws.subprotocol is None, "no subprotocol when none is offered")
        await ws.send(os.urandom(70000))  # max_queue is 64KiB on this service
        check(await close_code_of(ws) == 1009, "a message over max_queue to a raw service: 1009")


async def case_lines_mapping(port):
    async with websockets.connect("ws://127.0.0.1:%d/c" % port) as ws:
        await ws.send("one")
        check(await ws.recv() == "got one", "a text message is a line; each line sent is one text message")
        await ws.send("two\nthree\r\nfour\n")
        got = [await ws.recv() for _ in range(3)]
        check(got == ["got two", "got three", "got four"], "a message with newlines is several lines: %r" % got)
        await ws.send(b"bin")
        check(await ws.recv() == "got bin", "a binary message to a line service is lines too")


async def case_subprotocol(port):
    async with websockets.connect("ws://127.0.0.1:%d/c" % port, subprotocols=["chat", "text.ircv3.net"]) as ws:
        check(ws.subprotocol == "text.ircv3.net", "text.ircv3.net is accepted")
        await ws.send("x")
        check(await ws.recv() == "got x", "lines as text messages")
    async with websockets.connect("ws://127.0.0.1:%d/c" % port, subprotocols=["binary.ircv3.net"]) as ws:
        check(ws.subprotocol == "binary.ircv3.net", "binary.ircv3.net is accepted")
        await ws.send(b"y")
        check(await ws.recv() == b"got y", "binary.ircv3.net: lines as binary messages")
    async with websockets.connect("ws://127.0.0.1:%d/c" % port, subprotocols=["mqtt"]) as ws:
        check(ws.subprotocol is None, "another subprotocol is not accepted: none is chosen")


def case_fragmentation(port):
    raw = Raw(port, "/c")
    raw.send(1, b"hel", fin=False)
    raw.send(9, b"in between")  # a ping between fragments
    raw.send(0, b"lo wo", fin=False)
    raw.send(0, b"rld", fin=True)
    check(raw.recv_frame() == (10, b"in between"), "a ping between fragments is answered with its payload")
    check(raw.recv_frame() == (1, b"got hello world"), "the fragments are one message")
    raw.send(0, b"orphan")
    check(raw.close_code() == 1002, "a continuation without a message: 1002")
    raw = Raw(port, "/c")
    raw.send(1, b"a", fin=False)
    raw.send(1, b"b")
    check(raw.close_code() == 1002, "a new message inside a fragmented one: 1002")
    raw = Raw(port, "/c")
    raw.send(9, b"p", fin=False)
    check(raw.close_code() == 1002, "a fragmented ping: 1002")


def case_masking(port):
    raw = Raw(port, "/c")
    raw.send(1, b"unmasked", mask=False)
    check(raw.close_code() == 1002, "an unmasked client frame: 1002")
    raw = Raw(port, "/c")
    raw.send(1, b"x", rsv=4)
    check(raw.close_code() == 1002, "a reserved bit: 1002")
    raw = Raw(port, "/c")
    raw.send(3, b"x")
    check(raw.close_code() == 1002, "a reserved data opcode: 1002")
    raw = Raw(port, "/c")
    raw.send(11, b"x")
    check(raw.close_code() == 1002, "a reserved control opcode: 1002")
    raw = Raw(port, "/c")
    raw.send(9, b"x" * 126)
    check(raw.close_code() == 1002, "a control frame over 125 bytes: 1002")


async def case_too_big(port):
    # max_line is 64 on this service.
    async with websockets.connect("ws://127.0.0.1:%d/c" % port) as ws:
        await ws.send("x" * 64)
        check(await ws.recv() == "got " + "x" * 64, "a message of max_line bytes passes")
        await ws.send("x" * 65)
        check(await close_code_of(ws) == 1009, "a message over max_line: 1009")
    async with websockets.connect("ws://127.0.0.1:%d/c" % port) as ws:
        await ws.send(["x" * 40, "x" * 40])
        check(await close_code_of(ws) == 1009, "fragments adding up past max_line: 1009")
    raw = Raw(port, "/c")
    raw.sock.sendall(raw.frame(2, b"", length=1 << 40)[:14])  # the header alone, announcing a terabyte
    check(raw.close_code() == 1009, "a frame announcing more than the limit is refused from its header: 1009")


def case_utf8(port):
    raw = Raw(port, "/c")
    raw.send(1, b"caf\xc3")  # cut in the middle of a character
    check(raw.close_code() == 1007, "invalid UTF-8 in a text message: 1007")
    raw = Raw(port, "/c")
    raw.send(1, b"\xed\xa0\x80")  # a surrogate
    check(raw.close_code() == 1007, "a UTF-16 surrogate in a text message: 1007")
    raw = Raw(port, "/c")
    raw.send(1, "fine ✓".encode(), fin=False)
    raw.send(0, b"\xff")
    check(raw.close_code() == 1007, "invalid UTF-8 in the last fragment: 1007")
    raw = Raw(port, "/c")
    raw.send(2, b"\xff\xfe")
    check(raw.recv_frame() is not None, "a binary message need not be UTF-8")


async def case_close_normal(port):
    ws = await websockets.connect("ws://127.0.0.1:%d/c" % port)
    await ws.close(1000, "bye")
    check(ws.close_code == 1000, "the client's close is answered with its code (1000): %r" % ws.close_code)
    ws = await websockets.connect("ws://127.0.0.1:%d/c" % port)
    await ws.close(4001, "custom")
    check(ws.close_code == 4001, "an application code is echoed: %r" % ws.close_code)
    raw = Raw(port, "/c")
    raw.send(8, struct.pack("!H", 999))
    check(raw.close_code() == 1002, "an invalid close code: 1002")


async def case_close_plugin(port):
    # faulty echoes lines and throws on "boom"; chat's /quit closes from the plugin.
    async with websockets.connect("ws://127.0.0.1:%d/f" % port) as ws:
        await ws.send("hello")
        check(await ws.recv() == "hello", "faulty echoes")
        await ws.send("boom")
        check(await close_code_of(ws) == 1011, "a plugin error: 1011")


async def case_close_quit(port):
    async with websockets.connect("ws://127.0.0.1:%d/chat" % port) as ws:
        await asyncio.wait_for(ws.recv(), DEADLINE)  # the greeting asks for a nickname
        await ws.send("quitter")
        await ws.send("/quit")
        code = None
        try:
            while True:
                await asyncio.wait_for(ws.recv(), DEADLINE)
        except websockets.ConnectionClosed as closed:
            code = closed.code
        check(code == 1000, "the plugin closing the session: 1000, got %r" % code)


async def case_hold(port):
    """Connects, prints READY, and reports the close code it hears (for shutdown and reload)."""
    async with websockets.connect("ws://127.0.0.1:%d/c" % port, ping_interval=None) as ws:
        await ws.send("hi")
        await ws.recv()
        print("READY", flush=True)
        code = await asyncio.wait_for(close_code_of(ws), 30)
        print("CODE", code, flush=True)


async def case_refused(port):
    # max_connections: 1 on this service; the first holds its place.
    async with websockets.connect("ws://127.0.0.1:%d/c" % port) as first:
        await first.send("hi")
        check(await first.recv() == "got hi", "the first client is served")
        second = await websockets.connect("ws://127.0.0.1:%d/c" % port)
        check(await close_code_of(second) == 1008, "a client over max_connections: 1008")
        await first.send("still")
        check(await first.recv() == "got still", "the first goes on")


async def case_ping_pong(port):
    async with websockets.connect("ws://127.0.0.1:%d/c" % port, ping_interval=None) as ws:
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, DEADLINE)  # resolved by the pong with the same payload
    # The host pings an idle client (ping_interval: 200ms here); one that answers stays.
    raw = Raw(port, "/c")
    got = raw.recv_frame()
    check(got is not None and got[0] == 9, "the host pings an idle client: %r" % (got,))
    for _ in range(3):
        raw.send(10, got[1])
        got = raw.recv_frame()
        check(got is not None and got[0] == 9, "one that answers is pinged again, not closed")
    raw.send(1, b"alive")
    check(raw.recv_frame() == (1, b"got alive"), "and still served")
    # One that does not answer is closed.
    raw = Raw(port, "/c")
    got = raw.recv_frame()
    check(got is not None and got[0] == 9, "pinged")
    started = time.monotonic()
    while True:
        got = raw.recv_frame()
        if got is None or got[0] == 8:
            break
    check(time.monotonic() - started < DEADLINE, "a client that never answers is closed as dead")


def case_ping_flood(port):
    # max_queue is small: a client sending pings without reading the pongs is closed as too slow.
    flooder = Raw(port, "/c")
    flooder.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ping = flooder.frame(9, b"x" * 125)
    calm = Raw(port, "/c")
    closed = False
    for _ in range(20000):
        try:
            flooder.sock.sendall(ping * 16)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            closed = True
            break
    check(closed, "a client flooding pings and never reading is closed")
    calm.send(1, b"still here")
    check(calm.recv_frame() == (1, b"got still here"), "another client goes on")


def case_never_reads(port):
    # The echo service, max_queue 64KiB and send_timeout 1s: a client that sends and never reads is cut.
    slow = Raw(port, "/echo")
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    calm = Raw(port, "/echo")
    chunk = slow.frame(2, b"z" * 60000)
    cut = False
    started = time.monotonic()
    while time.monotonic() - started < 30:
        try:
            slow.sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            cut = True
            break
    check(cut, "a client that never reads is closed as too slow")
    calm.send(2, b"ok")
    check(calm.recv_frame() == (2, b"ok"), "another client of the service goes on")


def case_handshake(port):
    def status(answer):
        return answer.split(b"\r\n", 1)[0]
    base = ("GET /c HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    answer = http(port, (base + "Sec-WebSocket-Version: 8\r\n\r\n").encode())
    check(status(answer) == b"HTTP/1.1 426 Upgrade Required" and b"Sec-WebSocket-Version: 13" in answer,
          "version 8: 426 naming 13: %r" % answer)
    answer = http(port, (base.replace("/c ", "/nope ") + "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    check(status(answer) == b"HTTP/1.1 404 Not Found", "another path: 404: %r" % answer)
    answer = http(port, (base + "Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n").encode())
    check(status(answer) == b"HTTP/1.1 403 Forbidden", "an origin not listed: 403: %r" % answer)
    upgraded = Raw(port, handshake=False)
    upgraded.sock.sendall((base + "Sec-WebSocket-Version: 13\r\nOrigin: https://ok.example\r\n\r\n").encode())
    answer = upgraded.read_head()
    check(status(answer) == b"HTTP/1.1 101 Switching Protocols" and
          b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in answer, "a listed origin: 101 (RFC's key)")
    answer = http(port, b"GET /c HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    check(status(answer) == b"HTTP/1.1 431 Request Header Fields Too Large", "a huge head: 431: %r" % answer[:60])
    answer = http(port, b"\x16\x03\x01 garbage\r\n\r\n")
    check(status(answer) == b"HTTP/1.1 400 Bad Request", "garbage: 400: %r" % answer)
    answer = http(port, b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
    check(status(answer) == b"HTTP/1.1 426 Upgrade Required", "a plain GET without static files: 426")
    # A slow handshake: half a request, then nothing; handshake_timeout is 500ms here.
    raw = Raw(port, handshake=False)
    raw.sock.sendall(b"GET /c HTTP/1.1\r\nHost: x\r\n")
    answer = raw.read_all()
    check(status(answer) == b"HTTP/1.1 408 Request Timeout", "a slow handshake: 408 and closed: %r" % answer)


async def case_chat(ws_port, tcp_port):
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)

    async def tcp_until(needle):
        data = b""
        while needle not in data:
            line = await asyncio.wait_for(reader.readline(), DEADLINE)
            check(line, "the TCP user is not cut off")
            data += line
        return data

    await tcp_until(b"nickname")
    writer.write(b"nc_user\n")
    await writer.drain()
    await tcp_until(b"nc_user")
    async with websockets.connect("ws://127.0.0.1:%d/chat" % ws_port) as ws:
        first = await asyncio.wait_for(ws.recv(), DEADLINE)
        check(isinstance(first, str), "chat lines are text messages")
        await ws.send("browser")
        await tcp_until(b"browser")  # the TCP user hears of the join
        await ws.send("hello from the browser")
        await tcp_until(b"hello from the browser")
        writer.write(b"hello from nc\n")
        await writer.drain()
        seen = []
        while not any("hello from nc" in line for line in seen):
            seen.append(await asyncio.wait_for(ws.recv(), DEADLINE))
        check(all("\n" not in line for line in seen), "each line is one message, without its newline")
    writer.close()


async def case_web_irc(ws_port, tcp_port):
    # A web IRC client (text.ircv3.net, as the chat page asks) of a line service speaks IRC, in the same
    # room as the service's nc users: #lobby is the line dialect's lobby.
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)

    async def tcp_until(needle):
        data = b""
        while needle not in data:
            line = await asyncio.wait_for(reader.readline(), DEADLINE)
            check(line, "the TCP user is not cut off")
            data += line
        return data

    await tcp_until(b"nickname")
    writer.write(b"carol\n")
    await writer.drain()
    await tcp_until(b"Welcome, carol")
    async with websockets.connect("ws://127.0.0.1:%d/chat" % ws_port, subprotocols=["text.ircv3.net"]) as ws:
        check(ws.subprotocol == "text.ircv3.net", "the subprotocol is chosen")

        async def irc_until(predicate, what):
            seen = []
            while True:
                line = await asyncio.wait_for(ws.recv(), DEADLINE)
                check(isinstance(line, str) and not line.endswith("\n"), "one IRC line per text message")
                seen.append(line)
                if line.startswith("PING "):
                    await ws.send("PONG " + line[5:])
                if predicate(line):
                    return seen
                check(len(seen) < 200, "%s: %r" % (what, seen[-5:]))

        await ws.send("NICK webby")
        await ws.send("USER web 0 * :A browser")
        await irc_until(lambda l: " 001 webby " in l, "registered with 001")
        await ws.send("JOIN #lobby")
        names = await irc_until(lambda l: " 366 " in l, "NAMES after JOIN")
        check(any(" 353 " in l and "carol" in l for l in names), "NAMES lists the nc user: %r" % names)
        await tcp_until(b"webby joined")
        await ws.send("PRIVMSG #lobby :hello from a web IRC client")
        await tcp_until(b"webby: hello from a web IRC client")
        writer.write(b"hello back from nc\n")
        await writer.drain()
        await irc_until(lambda l: l.startswith(":carol!") and "PRIVMSG #lobby :hello back from nc" in l,
                        "the nc user's line as a PRIVMSG")
        await ws.send("QUIT :bye")
        await tcp_until(b"webby left")
    writer.close()

    # Without the subprotocol the same listener speaks the service's own dialect, line.
    async with websockets.connect("ws://127.0.0.1:%d/chat" % ws_port) as ws:
        first = await asyncio.wait_for(ws.recv(), DEADLINE)
        check("nickname" in first or first.startswith("*"), "the line dialect's greeting: %r" % first)


async def case_wss(port, ca_path):
    import ssl
    context = ssl.create_default_context(cafile=ca_path)
    async with websockets.connect("wss://localhost:%d/c" % port, ssl=context) as ws:
        await ws.send("secure\nlines")
        got = [await ws.recv(), await ws.recv()]
        check(got == ["got secure", "got lines"], "wss: lines over TLS: %r" % got)
        await ws.close()
        check(ws.close_code == 1000, "wss: the close handshake over TLS")


async def case_connection(probe_port, confirm_port):
    # What a plugin learns of a WebSocket session (ABI 2.3): the path, the subprotocol, the Origin.
    async with websockets.connect("ws://127.0.0.1:%d/p?room=x" % probe_port, subprotocols=["text.ircv3.net"],
                                  origin="https://o.example") as ws:
        check(await ws.recv() == "hi", "the probe's greeting")
        await ws.send("websocket")
        got = await ws.recv()
        check(got == "websocket 1 /p?room=x text.ircv3.net https://o.example", "the connection view: %r" % got)
    async with websockets.connect("ws://127.0.0.1:%d/p" % probe_port) as ws:
        await ws.recv()
        await ws.send("websocket")
        got = await ws.recv()
        check(got == "websocket 1 /p - -", "no subprotocol and no Origin: empty: %r" % got)
    async with websockets.connect("ws://127.0.0.1:%d/t" % confirm_port) as ws:
        await ws.send("hello")
        got = await ws.recv()
        check(got == "ws hello", "confirm's {transport} says ws: %r" % got)


def main():
    case = sys.argv[1]
    ports = [int(p) if p.isdigit() else p for p in sys.argv[2:]]
    function = globals()["case_" + case]
    result = function(*ports)
    if asyncio.iscoroutine(result):
        asyncio.run(asyncio.wait_for(result, 60))
    print("PASS", case)


if __name__ == "__main__":
    main()
