// TLS on the real host: echo, confirm and chat behind TLS with real clients (openssl s_client, Python's
// ssl module, an OpenSSL client in the test), client certificates, SNI, certificate rotation by reload
// with a session open, and hostile handshakes beside well-behaved clients.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <csignal>
#include <regex>
#include <thread>

#include "support/client.h"
#include "support/host_process.h"
#include "support/pki.h"

namespace {

using namespace plughost::test;

struct CtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

CtxPtr clientContext(const Pki& pki) {
    CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_load_verify_locations(ctx.get(), pki.path("ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    return ctx;
}

// A blocking TLS client over loopback with a 5 s timeout on every read and write.
class TlsClient {
public:
    TlsClient(std::uint16_t port, SSL_CTX* ctx, const char* serverName = "localhost", int receiveBuffer = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (receiveBuffer > 0) {
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
        }
        timeval timeout{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        ssl_ = SSL_new(ctx);
        SSL_set_fd(ssl_, fd_);
        if (serverName != nullptr) {
            SSL_set_tlsext_host_name(ssl_, serverName);
        }
        ERR_clear_error();
        handshaken_ = connected_ && SSL_connect(ssl_) == 1;
    }
    ~TlsClient() {
        SSL_free(ssl_);
        ::close(fd_);
    }
    bool handshaken() const { return handshaken_; }
    SSL* ssl() { return ssl_; }
    bool send(const std::string& bytes) {
        std::size_t n = 0;
        return SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n) == 1 && n == bytes.size();
    }
    // Until `n` bytes arrived, or the peer closed, or 5 s passed without bytes.
    std::string read(std::size_t n) {
        std::string got;
        char buffer[16384];
        while (got.size() < n) {
            std::size_t k = 0;
            if (SSL_read_ex(ssl_, buffer, sizeof buffer, &k) != 1) {
                break;
            }
            got.append(buffer, k);
        }
        return got;
    }
    std::string line() {
        std::string got;
        char c;
        std::size_t k = 0;
        while (SSL_read_ex(ssl_, &c, 1, &k) == 1 && c != '\n') {
            got.push_back(c);
        }
        return got;
    }
    std::string subject() {
        X509* peer = SSL_get0_peer_certificate(ssl_);
        char name[256] = {};
        if (peer != nullptr) {
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name, sizeof name);
        }
        return name;
    }
    // True once the server closed the connection (close_notify or EOF) within 5 s.
    bool closedByServer() {
        char c;
        std::size_t k = 0;
        ERR_clear_error();
        return SSL_read_ex(ssl_, &c, 1, &k) != 1 && SSL_get_error(ssl_, 0) != SSL_ERROR_WANT_READ;
    }

private:
    int fd_ = -1;
    SSL* ssl_ = nullptr;
    bool connected_ = false;
    bool handshaken_ = false;
};

std::string tlsListen(const Pki& pki, const std::string& extra = "") {
    return "      - address: 127.0.0.1:0\n        tls: {certificate: " + pki.path("server.pem") +
           ", key: " + pki.path("server.key") + extra + "}\n";
}

class TlsHost : public ::testing::Test {
protected:
    void SetUp() override {
        ::signal(SIGPIPE, SIG_IGN);
        pki.issue("server", "DNS:localhost");
    }
    Pki pki;
};

TEST_F(TlsHost, EchoConfirmAndChatSpeakTlsToOpensslAndPython) {
    HostProcess host(
        "services:\n"
        "  echo:\n    plugin: echo\n    listen:\n" +
        tlsListen(pki) + "  confirm:\n    plugin: confirm\n    listen:\n" + tlsListen(pki) +
        "  chat:\n    plugin: chat\n    listen:\n" + tlsListen(pki));
    ASSERT_TRUE(host.started()) << host.log();

    // openssl s_client against echo: what it sends comes back, through TLS 1.3, verified against the CA.
    const std::string echoed = capture(
        "(printf 'hello over tls\\n'; sleep 1) | timeout 10 openssl s_client -quiet -no_ign_eof "
        "-verify_quiet "
        "-verify_return_error "
        "-CAfile " +
        pki.path("ca.pem") +
        " -servername localhost -connect 127.0.0.1:" + std::to_string(host.port("echo")) + " 2>/dev/null");
    EXPECT_EQ(echoed, "hello over tls\nDONE\n");  // s_client says DONE when the input ends

    // Python's ssl module: every byte value through echo, confirm's reply, and a chat room of two.
    const std::string script = host.dir().write("client.py", R"(
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
def connect(port):
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
def until(s, marker):
    got = b""
    while marker not in got:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got
echo = connect(int(sys.argv[2]))
data = bytes(range(256)) * 64
echo.sendall(data)
got = b""
while len(got) < len(data):
    got += echo.recv(65536)
print("echo", got == data, echo.version())
confirm = connect(int(sys.argv[3]))
confirm.sendall(b"ping\n")
print("confirm", until(confirm, b"\n").decode().strip())
alice = connect(int(sys.argv[4])); bob = connect(int(sys.argv[4]))
until(alice, b"nickname"); alice.sendall(b"alice\n"); until(alice, b"\n")
until(bob, b"nickname"); bob.sendall(b"bob\n"); until(bob, b"\n")
alice.sendall(b"hello bob\n")
print("chat", b"hello bob" in until(bob, b"hello bob"))
)");
    const std::string out = capture(
        "timeout 30 python3 " + script + " " + pki.path("ca.pem") + " " + std::to_string(host.port("echo")) +
        " " + std::to_string(host.port("confirm")) + " " + std::to_string(host.port("chat")));
    EXPECT_NE(out.find("echo True TLSv1.3"), std::string::npos) << out;
    EXPECT_NE(out.find("confirm Message received: ping"), std::string::npos) << out;
    EXPECT_NE(out.find("chat True"), std::string::npos) << out << host.log();
}

TEST_F(TlsHost, ClientCertificatesAreRequiredAndChecked) {
    pki.issue("alice", "");
    Pki other;
    other.issue("mallory", "");
    // confirm tells who it talks to: the subject of the certificate the host verified (SDK connection()).
    HostProcess host(
        "services:\n  confirm:\n    plugin: confirm\n"
        "    settings: {reply: '{transport} {client}: {message}'}\n    listen:\n" +
        tlsListen(pki, ", client_ca: " + pki.path("ca.pem")));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("confirm");

    auto anonymous = clientContext(pki);
    TlsClient without(port, anonymous.get());
    // TLS 1.3: the client learns of the refusal on its first read.
    EXPECT_TRUE(!without.handshaken() || (without.send("x") && without.closedByServer()));

    auto foreign = clientContext(pki);
    SSL_CTX_use_certificate_file(foreign.get(), other.path("mallory.pem").c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(foreign.get(), other.path("mallory.key").c_str(), SSL_FILETYPE_PEM);
    TlsClient mallory(port, foreign.get());
    EXPECT_TRUE(!mallory.handshaken() || (mallory.send("x") && mallory.closedByServer()));

    auto signed_ = clientContext(pki);
    SSL_CTX_use_certificate_file(signed_.get(), pki.path("alice.pem").c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(signed_.get(), pki.path("alice.key").c_str(), SSL_FILETYPE_PEM);
    TlsClient alice(port, signed_.get());
    ASSERT_TRUE(alice.handshaken());
    ASSERT_TRUE(alice.send("let me in\n"));
    EXPECT_EQ(alice.line(), "tls CN=alice: let me in");

    std::string status;
    EXPECT_TRUE(waitStatus(host, "\"no_client_certificate\" *: *1", status)) << status;
    EXPECT_TRUE(waitStatus(host, "\"bad_client_certificate\" *: *1", status)) << status;
    EXPECT_TRUE(waitStatus(host, "\"handshakes\" *: *1", status)) << status;
}

TEST_F(TlsHost, ServerNameChoosesTheCertificate) {
    pki.issue("chat.test", "DNS:chat.test");
    HostProcess host("services:\n  echo:\n    plugin: echo\n    listen:\n" +
                     tlsListen(pki, ", sni: [{certificate: " + pki.path("chat.test.pem") +
                                        ", key: " + pki.path("chat.test.key") + "}]"));
    ASSERT_TRUE(host.started()) << host.log();
    auto ctx = clientContext(pki);
    TlsClient chat(host.port("echo"), ctx.get(), "chat.test");
    ASSERT_TRUE(chat.handshaken());
    EXPECT_EQ(chat.subject(), "chat.test");
    TlsClient other(host.port("echo"), ctx.get(), "localhost");
    ASSERT_TRUE(other.handshaken());
    EXPECT_EQ(other.subject(), "server");
    TlsClient none(host.port("echo"), ctx.get(), nullptr);
    ASSERT_TRUE(none.handshaken());
    EXPECT_EQ(none.subject(), "server");
}

TEST_F(TlsHost, AReloadRotatesTheCertificateAndKeepsOpenSessions) {
    HostProcess host("services:\n  echo:\n    plugin: echo\n    listen:\n" + tlsListen(pki));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("echo");
    auto ctx = clientContext(pki);
    TlsClient before(port, ctx.get());
    ASSERT_TRUE(before.handshaken());
    EXPECT_EQ(before.subject(), "server");

    // The operator installs a renewed certificate (new key, new name) over the old files and reloads.
    pki.issue("renewed", "DNS:localhost", "new");
    replaceFile(pki.path("server.pem"), readFile(pki.path("new.pem")));
    replaceFile(pki.path("server.key"), readFile(pki.path("new.key")));
    const auto reloaded = runCtl({"reload", "--socket", host.adminSocket()});
    EXPECT_EQ(reloaded.exitCode, 0) << reloaded.output;
    EXPECT_TRUE(std::regex_search(reloaded.output, std::regex("echo +unchanged"))) << reloaded.output;

    TlsClient after(port, ctx.get());
    ASSERT_TRUE(after.handshaken());
    EXPECT_EQ(after.subject(), "renewed");
    // The session that began before the reload is still there and still served.
    ASSERT_TRUE(before.send("still here\n"));
    EXPECT_EQ(before.line(), "still here");
    ASSERT_TRUE(after.send("new one\n"));
    EXPECT_EQ(after.line(), "new one");
}

TEST_F(TlsHost, HostileHandshakesAreClosedCountedAndHarmNobody) {
    HostProcess host(
        "services:\n  confirm:\n    plugin: confirm\n    handshake_timeout: 500ms\n"
        "    max_line: 1KiB\n    listen:\n" +
        tlsListen(pki));
    ASSERT_TRUE(host.started()) << host.log();
    const auto port = host.port("confirm");
    auto ctx = clientContext(pki);
    TlsClient good(port, ctx.get());
    ASSERT_TRUE(good.handshaken());
    ASSERT_TRUE(good.send("first\n"));
    EXPECT_EQ(good.line(), "Message received: first");
    const int baseline = host.openFds();

    // Garbage instead of a ClientHello.
    {
        Client garbage(port);
        ASSERT_TRUE(garbage.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        EXPECT_TRUE(garbage.waitClosed());
    }
    // A client that connects and never starts the handshake: closed after handshake_timeout.
    {
        Client stalled(port);
        EXPECT_TRUE(stalled.waitClosed(10s));
    }
    // A ClientHello, then a reset.
    {
        Client half(port);
        half.send(std::string("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", 10));  // a truncated ClientHello
        half.reset();
    }
    // TLS 1.0 and 1.1 are refused.
    for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
        CtxPtr old(SSL_CTX_new(TLS_client_method()));
        SSL_CTX_set_security_level(old.get(), 0);
        SSL_CTX_set_min_proto_version(old.get(), version);
        SSL_CTX_set_max_proto_version(old.get(), version);
        TlsClient refused(port, old.get());
        EXPECT_FALSE(refused.handshaken()) << version;
    }
    // Renegotiation is refused: the client's attempt fails and the server never runs a second handshake.
    {
        CtxPtr twelve(SSL_CTX_new(TLS_client_method()));
        SSL_CTX_set_max_proto_version(twelve.get(), TLS1_2_VERSION);
        TlsClient renegotiating(port, twelve.get());
        ASSERT_TRUE(renegotiating.handshaken());
        ASSERT_EQ(SSL_renegotiate(renegotiating.ssl()), 1);
        ERR_clear_error();
        EXPECT_NE(SSL_do_handshake(renegotiating.ssl()), 1);
    }
    // A 1 MiB stream of records with no newline to a line plugin with max_line 1KiB: told, not closed.
    {
        TlsClient flood(port, ctx.get());
        ASSERT_TRUE(flood.handshaken());
        ASSERT_TRUE(flood.send(std::string(1024 * 1024, 'x')));
        EXPECT_EQ(flood.line(), "error: line too long (max 1024 bytes)");
        ASSERT_TRUE(flood.send("\nafter\n"));
        EXPECT_EQ(flood.line(), "Message received: after");
    }

    // The well-behaved client never noticed; the failures are counted; descriptors are back.
    ASSERT_TRUE(good.send("second\n"));
    EXPECT_EQ(good.line(), "Message received: second");
    std::string status;
    EXPECT_TRUE(waitStatus(host, "\"not_tls\" *: *1", status)) << status;
    EXPECT_TRUE(waitStatus(host, "\"timeout\" *: *[1-9]", status)) << status;
    EXPECT_TRUE(waitStatus(host, "\"protocol_version\" *: *2", status)) << status;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (host.openFds() > baseline + 1 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_LE(host.openFds(), baseline + 1);  // the renegotiating client's connection may be closing
    EXPECT_TRUE(host.running());
}

TEST_F(TlsHost, ConfigErrorsNameFileLineAndKey) {
    TempDir dir;
    const std::string config = dir.write("plughost.yaml", "plugin_dir: " PLUGHOST_PLUGIN_DIR
                                                          "\n"
                                                          "services:\n"
                                                          "  echo:\n"
                                                          "    plugin: echo\n"
                                                          "    listen:\n"
                                                          "      - address: 127.0.0.1:0\n"
                                                          "        tls:\n"
                                                          "          certificate: missing.pem\n"
                                                          "          key: " +
                                                              pki.path("server.key") + "\n");
    const auto checked = runCtl({"check", config});
    EXPECT_NE(checked.exitCode, 0);
    EXPECT_NE(checked.output.find(config + ":8:24: services.echo.listen[0].tls.certificate: cannot read " +
                                  dir.path() + "/missing.pem: No such file or directory"),
              std::string::npos)
        << checked.output;
}

TEST_F(TlsHost, CheckNamesAKeyThatDoesNotMatchItsCertificate) {
    pki.issue("other", "DNS:localhost");
    TempDir dir;
    const std::string config = dir.write(
        "plughost.yaml", "plugin_dir: " PLUGHOST_PLUGIN_DIR
                         "\n"
                         "services:\n"
                         "  echo:\n"
                         "    plugin: echo\n"
                         "    listen:\n"
                         "      - address: 127.0.0.1:0\n"
                         "        tls:\n"
                         "          certificate: " +
                             pki.path("server.pem") + "\n          key: " + pki.path("other.key") + "\n");
    const auto checked = runCtl({"check", config});
    EXPECT_NE(checked.exitCode, 0);
    EXPECT_NE(
        checked.output.find(config + ":9:16: services.echo.listen[0].tls.key: " + pki.path("other.key") +
                            " does not match the certificate " + pki.path("server.pem")),
        std::string::npos)
        << checked.output;
}

TEST_F(TlsHost, AnExpiredCertificateIsAWarningFromCheckAndTheHost) {
    pki.issueExpired("expired");
    const std::string services =
        "services:\n  echo:\n    plugin: echo\n    listen:\n"
        "      - address: 127.0.0.1:0\n        tls: {certificate: " +
        pki.path("expired.pem") + ", key: " + pki.path("expired.key") + "}\n";
    TempDir dir;
    const std::string config = dir.write("plughost.yaml", "plugin_dir: " PLUGHOST_PLUGIN_DIR "\n" + services);
    const auto checked = runCtl({"check", config});
    EXPECT_EQ(checked.exitCode, 0) << checked.output;
    EXPECT_NE(checked.output.find("warning: " + config + ":7:28: services.echo.listen[0].tls.certificate: " +
                                  pki.path("expired.pem") + " expired on "),
              std::string::npos)
        << checked.output;
    HostProcess host(services);
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_TRUE(host.waitForLog(pki.path("expired.pem") + " expired on ")) << host.log();
}

TEST_F(TlsHost, ATlsClientThatStopsReadingIsClosedAfterSendTimeout) {
    HostProcess host(
        "services:\n  echo:\n    plugin: echo\n    send_timeout: 1s\n    max_queue: 64MiB\n"
        "    listen:\n" +
        tlsListen(pki));
    ASSERT_TRUE(host.started()) << host.log();
    auto ctx = clientContext(pki);
    TlsClient good(host.port("echo"), ctx.get());
    ASSERT_TRUE(good.handshaken());
    TlsClient stalled(host.port("echo"), ctx.get(), "localhost", 4096);
    ASSERT_TRUE(stalled.handshaken());
    // 4 MiB the host echoes into a client that never reads: far more than the kernel buffers hold, far
    // less than max_queue, so only send_timeout (measured from the ciphertext the client takes) ends it.
    const std::string chunk(64 * 1024, 'z');
    for (int i = 0; i < 64 && stalled.send(chunk); ++i) {
    }
    std::string status;
    EXPECT_TRUE(waitStatus(host, "\"too_slow\" *: *1", status)) << status;
    ASSERT_TRUE(good.send("unaffected\n"));
    EXPECT_EQ(good.line(), "unaffected");
}

}  // namespace
