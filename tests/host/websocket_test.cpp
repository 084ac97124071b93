// WebSocket listeners of the real host, spoken to by Python's websockets (Debian's python3-websockets)
// and raw sockets where a client must misbehave: websocket_cases.py holds the clients, each case here
// starts the host it needs and asserts what the case printed.
#include <gtest/gtest.h>

#include <csignal>
#include <regex>

#include "support/client.h"
#include "support/host_process.h"
#include "support/pki.h"

using namespace plughost::test;

namespace {

// The host's open sockets (each session holds one): other descriptors come and go on their own (a /dev/null
// the host opens now and then was seen under load), sockets only with connections.
int openSockets(const HostProcess& host) {
    return std::stoi("0" + capture("ls -l /proc/" + std::to_string(host.pid()) + "/fd | grep -c socket:"));
}

const std::string kCases = std::string(PLUGHOST_SOURCE_DIR) + "/tests/host/websocket_cases.py";

std::string runCase(const std::string& name, const std::vector<std::uint16_t>& ports) {
    std::string command = "timeout 90 /usr/bin/python3 " + kCases + " " + name;
    for (const auto port : ports) {
        command += " " + std::to_string(port);
    }
    return capture(command + " 2>&1");
}

// Every service of these tests: echo (raw), confirm (lines, max_line 64), the faulty test plugin, chat.
std::string servicesYaml(const TempDir& dir) {
    return "plugin_dir: " + pluginDirWith(dir, {"echo", "confirm", "chat", "faulty"}) +
           "\nservices:\n"
           "  echo:\n    plugin: echo\n    max_queue: 64KiB\n    send_timeout: 1s\n    listen:\n"
           "      - {address: 127.0.0.1:0, websocket: {path: /echo}}\n"
           "  confirm:\n    plugin: confirm\n    max_line: 64\n    max_queue: 16KiB\n    send_timeout: 1s\n"
           "    settings: {reply: 'got {message}', framing: lines}\n    listen:\n"
           "      - {address: 127.0.0.1:0, websocket: {path: /c}}\n"
           "  guarded:\n    plugin: confirm\n    handshake_timeout: 500ms\n"
           "    settings: {reply: 'got {message}', framing: lines}\n    listen:\n"
           "      - {address: 127.0.0.1:0, websocket: {path: /c, origins: ['https://ok.example']}}\n"
           "  pinged:\n    plugin: confirm\n    settings: {reply: 'got {message}', framing: lines}\n"
           "    listen:\n      - {address: 127.0.0.1:0, websocket: {path: /c, ping_interval: 200ms}}\n"
           "  faulty:\n    plugin: faulty\n    listen:\n      - {address: 127.0.0.1:0, websocket: {path: "
           "/f}}\n"
           "  chat:\n    plugin: chat\n    settings: {dialect: line}\n    listen:\n"
           "      - 127.0.0.1:0\n      - {address: 127.0.0.1:0, websocket: {path: /chat}}\n";
}

class WebSocket : public ::testing::Test {
protected:
    void SetUp() override {
        host = std::make_unique<HostProcess>(servicesYaml(scratch));
        ASSERT_TRUE(host->started()) << host->log();
        baseline = openSockets(*host);
    }
    // The port of a service's `index`th listen entry.
    std::uint16_t port(const std::string& service, std::size_t index = 0) {
        const auto addresses = host->addresses(service);
        const std::string& address = addresses.at(index);
        return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
    }
    void expectPass(const std::string& name, const std::vector<std::uint16_t>& ports) {
        const std::string out = runCase(name, ports);
        EXPECT_NE(out.find("PASS " + name), std::string::npos) << out << "\n--- host log\n" << host->log();
    }
    void TearDown() override {
        if (host && host->started() && !::testing::Test::HasFailure()) {
            // Every connection the cases made is gone again.
            EXPECT_TRUE(eventually([&] { return openSockets(*host) <= baseline; }, 10s))
                << openSockets(*host) << " descriptors, " << baseline << " before";
        }
    }

    TempDir scratch;
    std::unique_ptr<HostProcess> host;
    int baseline = 0;
};

TEST_F(WebSocket, RawServiceGetsEachMessageAsOneChunkAndSendsBinary) {
    expectPass("raw_mapping", {port("echo")});
}

TEST_F(WebSocket, LineServiceGetsEachLineOfAMessageAndSendsEachLineAsATextMessage) {
    expectPass("lines_mapping", {port("confirm")});
}

TEST_F(WebSocket, IrcSubprotocolsAreAcceptedWhenOfferedAndNoneOtherwise) {
    expectPass("subprotocol", {port("confirm")});
}

TEST_F(WebSocket, FragmentsMakeOneMessageWithControlFramesBetweenThem) {
    expectPass("fragmentation", {port("confirm")});
}

TEST_F(WebSocket, UnmaskedFramesReservedBitsAndOpcodesClose1002) { expectPass("masking", {port("confirm")}); }

TEST_F(WebSocket, MessagesOverMaxLineClose1009) { expectPass("too_big", {port("confirm")}); }

TEST_F(WebSocket, InvalidUtf8InATextMessageCloses1007) { expectPass("utf8", {port("confirm")}); }

TEST_F(WebSocket, TheClientsCloseIsAnsweredWithItsCode) { expectPass("close_normal", {port("confirm")}); }

TEST_F(WebSocket, APluginErrorCloses1011AndOthersGoOn) {
    expectPass("close_plugin", {port("faulty")});
    expectPass("lines_mapping", {port("confirm")});
}

TEST_F(WebSocket, ThePluginClosingTheSessionCloses1000) { expectPass("close_quit", {port("chat", 1)}); }

TEST_F(WebSocket, PingsAreAnsweredIdleClientsPingedAndDeadOnesClosed) {
    expectPass("ping_pong", {port("pinged")});
}

TEST_F(WebSocket, AFloodOfPingsFromAClientThatNeverReadsClosesItAlone) {
    expectPass("ping_flood", {port("confirm")});
    std::string last;
    EXPECT_TRUE(waitStatus(*host, "\"too_slow\": *[1-9]", last)) << last;
}

TEST_F(WebSocket, AClientThatNeverReadsIsClosedAsTooSlowWhileOthersGoOn) {
    expectPass("never_reads", {port("echo")});
}

TEST_F(WebSocket, BadUpgradesAreRefusedWithTheirStatusAndCountedByReason) {
    expectPass("handshake", {port("guarded")});
    std::string last;
    EXPECT_TRUE(waitStatus(*host, "\"origin\": *1", last)) << last;
    EXPECT_TRUE(waitStatus(*host, "\"version\": *1", last)) << last;
    EXPECT_TRUE(waitStatus(*host, "\"too_large\": *1", last)) << last;
    EXPECT_TRUE(waitStatus(*host, "\"timeout\": *1", last)) << last;
    EXPECT_TRUE(waitStatus(*host, "\"not_found\": *1", last)) << last;
}

TEST_F(WebSocket, AWebSocketUserAndATcpUserChatInOneRoom) {
    expectPass("chat", {port("chat", 1), port("chat", 0)});
}

// A web IRC client (text.ircv3.net) of a line service speaks the irc dialect in the service's room.
TEST_F(WebSocket, AWebIrcClientAndATcpUserOfALineServiceChatInOneRoom) {
    expectPass("web_irc", {port("chat", 1), port("chat", 0)});
}

TEST(WebSocketLimits, AClientOverALimitIsUpgradedAndClosed1008) {
    TempDir dir;
    HostProcess host(
        "services:\n  confirm:\n    plugin: confirm\n    max_connections: 1\n"
        "    settings: {reply: 'got {message}', framing: lines}\n    listen:\n"
        "      - {address: 127.0.0.1:0, websocket: {path: /c}}\n");
    ASSERT_TRUE(host.started()) << host.log();
    const std::string out = runCase("refused", {host.port("confirm")});
    EXPECT_NE(out.find("PASS refused"), std::string::npos) << out << host.log();
    std::string last;
    EXPECT_TRUE(waitStatus(host, "\"limit\": *1", last)) << last;
}

TEST(WebSocketTls, WssIsWebSocketOverTheListenersTls) {
    Pki pki;
    pki.issue("server", "DNS:localhost");
    HostProcess host(
        "services:\n  confirm:\n    plugin: confirm\n"
        "    settings: {reply: 'got {message}', framing: lines}\n    listen:\n"
        "      - address: 127.0.0.1:0\n        websocket: {path: /c}\n        tls: {certificate: " +
        pki.path("server.pem") + ", key: " + pki.path("server.key") + "}\n");
    ASSERT_TRUE(host.started()) << host.log();
    const std::string out =
        capture("timeout 60 /usr/bin/python3 " + kCases + " wss " + std::to_string(host.port("confirm")) +
                " " + pki.path("ca.pem") + " 2>&1");
    EXPECT_NE(out.find("PASS wss"), std::string::npos) << out << host.log();
}

// A plugin sees a WebSocket session for what it is (ABI 2.3): the C probe reads the path, subprotocol and
// Origin through session_connection, and confirm's {transport} says ws; over plain TCP the probe reads 0.
TEST(WebSocketConnection, APluginSeesThePathSubprotocolAndOrigin) {
    TempDir dir;
    HostProcess host(
        "plugin_dir: " + pluginDirWith(dir, {"abi_probe_c", "confirm"}) +
        "\nservices:\n  probe:\n    plugin: abi_probe_c\n    settings: {greeting: hi}\n"
        "    listen:\n      - {address: 127.0.0.1:0, websocket: {path: /p}}\n      - 127.0.0.1:0\n"
        "  confirm:\n    plugin: confirm\n    settings: {reply: '{transport} {message}', framing: "
        "lines}\n    listen:\n      - {address: 127.0.0.1:0, websocket: {path: /t}}\n");
    ASSERT_TRUE(host.started()) << host.log();
    const auto ws = host.addresses("probe").at(0);
    const auto tcp = host.addresses("probe").at(1);
    const auto portOf = [](const std::string& address) {
        return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
    };
    const std::string out = runCase("connection", {portOf(ws), host.port("confirm")});
    EXPECT_NE(out.find("PASS connection"), std::string::npos) << out << host.log();
    Client plain(portOf(tcp));
    EXPECT_EQ(plain.line(), "hi");
    ASSERT_TRUE(plain.send("websocket\n"));
    EXPECT_EQ(plain.line(), "websocket 0 - - -");
}

// Shutdown and reload close with 1001 ("going away").
std::string holdAndCollect(HostProcess& host, const std::function<void()>& action) {
    TempDir dir;
    const std::string out = dir.path() + "/out";
    const std::string command = "timeout 60 /usr/bin/python3 " + kCases + " hold " +
                                std::to_string(host.port("confirm")) + " > " + out + " 2>&1 &";
    std::system(command.c_str());
    EXPECT_TRUE(eventually([&] { return readFile(out).find("READY") != std::string::npos; }, 20s))
        << readFile(out);
    action();
    eventually([&] { return readFile(out).find("CODE") != std::string::npos; }, 20s);
    return readFile(out);
}

const char* kHoldYaml =
    "services:\n  confirm:\n    plugin: confirm\n    settings: {reply: 'got {message}', framing: lines}\n"
    "    listen:\n      - {address: 127.0.0.1:0, websocket: {path: /c}}\n";

TEST(WebSocketClose, ShuttingDownCloses1001) {
    HostProcess host(std::string(kHoldYaml) + "drain: 200ms\n");
    ASSERT_TRUE(host.started()) << host.log();
    const std::string out = holdAndCollect(host, [&] { ::kill(host.pid(), SIGTERM); });
    EXPECT_NE(out.find("CODE 1001"), std::string::npos) << out << host.log();
}

TEST(WebSocketClose, AReloadRemovingTheServiceCloses1001) {
    HostProcess host(std::string(kHoldYaml) + "drain: 200ms\n");
    ASSERT_TRUE(host.started()) << host.log();
    const std::string out = holdAndCollect(host, [&] {
        std::string config = readFile(host.configPath());
        config = config.substr(0, config.find("services:")) +
                 "drain: 200ms\nservices:\n  other:\n    plugin: echo\n    listen: 127.0.0.1:0\n";
        replaceFile(host.configPath(), config);
        ::kill(host.pid(), SIGHUP);
    });
    EXPECT_NE(out.find("CODE 1001"), std::string::npos) << out << host.log();
}

}  // namespace
