// The host's TLS engine (host/transports/tls.h) against OpenSSL's own client, over a non-blocking
// socketpair: contexts from real PEM files made by the openssl tool, the handshake, SNI, client
// certificates, refused protocol versions and garbage, and the errors an operator reads.
#include "transports/tls.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <functional>

#include "support/host_process.h"
#include "support/pki.h"

namespace {

using plughost::test::Pki;
using plughost::test::TempDir;
using plughost::transports::failureName;
using plughost::transports::TlsConnection;
using plughost::transports::TlsContext;
using plughost::transports::TlsSettings;
using plughost::transports::TlsStatus;

TlsSettings settingsFor(const Pki& pki, std::initializer_list<std::string> names) {
    TlsSettings settings;
    for (const auto& name : names) {
        settings.certificates.push_back({pki.path(name + ".pem"), pki.path(name + ".key")});
    }
    return settings;
}

std::shared_ptr<const TlsContext> make(const TlsSettings& settings) {
    std::string error;
    std::vector<std::string> warnings;
    auto context = TlsContext::create(settings, error, warnings);
    EXPECT_TRUE(context) << error;
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    return context;
}

struct CtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

// One client and one server connection over a non-blocking socketpair, stepped in turn.
class Pair {
public:
    Pair(std::shared_ptr<const TlsContext> server, SSL_CTX* clientCtx, const char* serverName = nullptr) {
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
        server_ = std::make_unique<TlsConnection>(std::move(server), fds_[0]);
        client_ = SSL_new(clientCtx);
        SSL_set_fd(client_, fds_[1]);
        if (serverName != nullptr) {
            SSL_set_tlsext_host_name(client_, serverName);
        }
        SSL_set_connect_state(client_);
    }
    ~Pair() {
        SSL_free(client_);
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    // Steps both sides until the server's handshake ends; the server's last status.
    TlsStatus handshake() {
        for (int i = 0; i < 100; ++i) {
            ERR_clear_error();
            SSL_do_handshake(client_);
            const TlsStatus status = server_->handshake();
            if (status == TlsStatus::Done || status == TlsStatus::Failed || status == TlsStatus::Closed) {
                ERR_clear_error();
                SSL_do_handshake(client_);  // the client reads the server's last flight
                return status;
            }
        }
        return TlsStatus::WantRead;
    }
    // The client writes `text`; what the server reads of it.
    std::string toServer(const std::string& text) {
        std::size_t n = 0;
        EXPECT_EQ(SSL_write_ex(client_, text.data(), text.size(), &n), 1);
        std::string got;
        char buffer[4096];
        for (int i = 0; i < 100 && got.size() < text.size(); ++i) {
            const TlsStatus status = server_->read(buffer, sizeof buffer, n);
            if (status == TlsStatus::Done) {
                got.append(buffer, n);
            } else if (status != TlsStatus::WantRead) {
                break;
            }
        }
        return got;
    }
    // The server writes `text`; what the client reads of it.
    std::string toClient(const std::string& text) {
        std::size_t n = 0;
        EXPECT_EQ(server_->write(text.data(), text.size(), n), TlsStatus::Done);
        EXPECT_EQ(n, text.size());
        std::string got;
        char buffer[4096];
        for (int i = 0; i < 100 && got.size() < text.size(); ++i) {
            ERR_clear_error();
            if (SSL_read_ex(client_, buffer, sizeof buffer, &n) == 1) {
                got.append(buffer, n);
            }
        }
        return got;
    }
    TlsConnection& server() { return *server_; }
    SSL* client() { return client_; }
    int clientFd() const { return fds_[1]; }

private:
    int fds_[2] = {-1, -1};
    std::unique_ptr<TlsConnection> server_;
    SSL* client_ = nullptr;
};

std::unique_ptr<SSL_CTX, CtxFree> clientContext(const Pki& pki) {
    std::unique_ptr<SSL_CTX, CtxFree> ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_load_verify_locations(ctx.get(), pki.path("ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    return ctx;
}

std::string subjectOf(X509* certificate) {
    char name[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, name, sizeof name);
    return name;
}

TEST(Tls, HandshakeThenBytesBothWays) {
    Pki pki;
    pki.issue("server", "DNS:localhost");
    auto client = clientContext(pki);
    Pair pair(make(settingsFor(pki, {"server"})), client.get(), "localhost");
    ASSERT_EQ(pair.handshake(), TlsStatus::Done) << pair.server().failureDetail();
    EXPECT_TRUE(pair.server().handshaken());
    EXPECT_EQ(SSL_get_verify_result(pair.client()), X509_V_OK);
    std::string all;
    for (int c = 0; c < 256; ++c) {
        all.push_back(static_cast<char>(c));
    }
    EXPECT_EQ(pair.toServer(all), all);
    EXPECT_EQ(pair.toClient(all), all);
    const auto info = pair.server().info();
    EXPECT_EQ(info.version, "TLSv1.3");
    EXPECT_FALSE(info.cipher.empty());
    EXPECT_EQ(info.serverName, "localhost");
    EXPECT_TRUE(info.peerSubject.empty());
}

TEST(Tls, ServerNamePicksTheCertificateAndUnknownNamesGetTheDefault) {
    Pki pki;
    pki.issue("alpha", "DNS:alpha.test");
    pki.issue("beta", "DNS:beta.test,DNS:*.beta.test");
    auto server = make(settingsFor(pki, {"alpha", "beta"}));
    auto client = clientContext(pki);
    for (const auto& [name, expected] :
         std::vector<std::pair<const char*, std::string>>{{"alpha.test", "alpha"},
                                                          {"beta.test", "beta"},
                                                          {"CHAT.Beta.test", "beta"},
                                                          {"a.b.beta.test", "alpha"},
                                                          {"other.test", "alpha"},
                                                          {nullptr, "alpha"}}) {
        Pair pair(server, client.get(), name);
        ASSERT_EQ(pair.handshake(), TlsStatus::Done) << (name ? name : "(none)");
        X509* peer = SSL_get0_peer_certificate(pair.client());
        ASSERT_NE(peer, nullptr);
        EXPECT_EQ(subjectOf(peer), expected) << (name ? name : "(none)");
    }
}

TEST(Tls, ClientCertificateRequiredAndItsSubjectKnown) {
    Pki pki;
    pki.issue("server", "DNS:localhost");
    pki.issue("alice", "");
    auto settings = settingsFor(pki, {"server"});
    settings.clientCa = pki.path("ca.pem");
    auto server = make(settings);

    auto anonymous = clientContext(pki);
    {
        Pair pair(server, anonymous.get());
        EXPECT_EQ(pair.handshake(), TlsStatus::Failed);
        EXPECT_STREQ(failureName(pair.server().failure()), "no_client_certificate")
            << pair.server().failureDetail();
    }
    auto withCertificate = clientContext(pki);
    ASSERT_EQ(
        SSL_CTX_use_certificate_file(withCertificate.get(), pki.path("alice.pem").c_str(), SSL_FILETYPE_PEM),
        1);
    ASSERT_EQ(
        SSL_CTX_use_PrivateKey_file(withCertificate.get(), pki.path("alice.key").c_str(), SSL_FILETYPE_PEM),
        1);
    Pair pair(server, withCertificate.get());
    ASSERT_EQ(pair.handshake(), TlsStatus::Done) << pair.server().failureDetail();
    EXPECT_EQ(pair.server().info().peerSubject, "CN=alice");
    EXPECT_EQ(pair.toServer("hello\n"), "hello\n");

    // A certificate from another CA is refused as bad.
    Pki other;
    other.issue("mallory", "");
    auto foreign = clientContext(pki);
    SSL_CTX_use_certificate_file(foreign.get(), other.path("mallory.pem").c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(foreign.get(), other.path("mallory.key").c_str(), SSL_FILETYPE_PEM);
    Pair refused(server, foreign.get());
    EXPECT_EQ(refused.handshake(), TlsStatus::Failed);
    EXPECT_STREQ(failureName(refused.server().failure()), "bad_client_certificate")
        << refused.server().failureDetail();
}

TEST(Tls, OldProtocolVersionsAreRefused) {
    Pki pki;
    pki.issue("server", "DNS:localhost");
    auto server = make(settingsFor(pki, {"server"}));
    for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
        std::unique_ptr<SSL_CTX, CtxFree> old(SSL_CTX_new(TLS_client_method()));
        SSL_CTX_set_security_level(old.get(), 0);
        SSL_CTX_set_min_proto_version(old.get(), version);
        SSL_CTX_set_max_proto_version(old.get(), version);
        Pair pair(server, old.get());
        EXPECT_EQ(pair.handshake(), TlsStatus::Failed) << version;
        EXPECT_STREQ(failureName(pair.server().failure()), "protocol_version")
            << pair.server().failureDetail();
    }
    // TLS 1.2 is the minimum and works.
    std::unique_ptr<SSL_CTX, CtxFree> twelve(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_max_proto_version(twelve.get(), TLS1_2_VERSION);
    Pair pair(server, twelve.get());
    ASSERT_EQ(pair.handshake(), TlsStatus::Done) << pair.server().failureDetail();
    EXPECT_EQ(pair.server().info().version, "TLSv1.2");
}

TEST(Tls, RenegotiationIsRefused) {
    Pki pki;
    pki.issue("server", "DNS:localhost");
    std::unique_ptr<SSL_CTX, CtxFree> twelve(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_max_proto_version(twelve.get(), TLS1_2_VERSION);
    Pair pair(make(settingsFor(pki, {"server"})), twelve.get());
    ASSERT_EQ(pair.handshake(), TlsStatus::Done);
    ASSERT_EQ(SSL_renegotiate(pair.client()), 1);
    // The client asks; the server refuses with a no_renegotiation alert, and OpenSSL's client gives
    // up on the connection. The server never runs a second handshake.
    bool clientFailed = false;
    for (int i = 0; i < 20 && !clientFailed; ++i) {
        ERR_clear_error();
        const int result = SSL_do_handshake(pair.client());
        clientFailed = result <= 0 && SSL_get_error(pair.client(), result) == SSL_ERROR_SSL;
        if (clientFailed) {
            EXPECT_EQ(ERR_GET_REASON(ERR_peek_error()), SSL_R_NO_RENEGOTIATION);
        }
        char buffer[64];
        std::size_t n = 0;
        pair.server().read(buffer, sizeof buffer, n);
    }
    EXPECT_TRUE(clientFailed);
    EXPECT_EQ(SSL_renegotiate_pending(pair.client()), 1);
}

TEST(Tls, GarbageInsteadOfAClientHelloIsNotTls) {
    Pki pki;
    pki.issue("server", "DNS:localhost");
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    TlsConnection server(make(settingsFor(pki, {"server"})), fds[0]);
    const std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::write(fds[1], garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
    EXPECT_EQ(server.handshake(), TlsStatus::Failed);
    EXPECT_STREQ(failureName(server.failure()), "not_tls") << server.failureDetail();
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(Tls, AClientThatGoesAwayMidHandshakeFails) {
    // OpenSSL writes with write(2): as in plughostd, a vanished peer must not raise SIGPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    Pki pki;
    pki.issue("server", "DNS:localhost");
    auto client = clientContext(pki);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    TlsConnection server(make(settingsFor(pki, {"server"})), fds[0]);
    SSL* ssl = SSL_new(client.get());
    SSL_set_fd(ssl, fds[1]);
    SSL_set_connect_state(ssl);
    SSL_do_handshake(ssl);  // the ClientHello only
    SSL_free(ssl);
    ::close(fds[1]);
    TlsStatus status = TlsStatus::WantRead;
    for (int i = 0; i < 10 && status == TlsStatus::WantRead; ++i) {
        status = server.handshake();
    }
    EXPECT_EQ(status, TlsStatus::Failed);
    EXPECT_STREQ(failureName(server.failure()), "reset") << server.failureDetail();
    ::close(fds[0]);
}

TEST(Tls, ConfigErrorsNameTheFileAndWhatIsWrong) {
    Pki pki;
    pki.issue("server", "DNS:localhost");
    pki.issue("other", "DNS:localhost");
    std::string error;
    std::vector<std::string> warnings;

    TlsSettings missing;
    missing.certificates.push_back({pki.path("nope.pem"), pki.path("server.key")});
    EXPECT_FALSE(TlsContext::create(missing, error, warnings));
    EXPECT_EQ(error, "cannot read " + pki.path("nope.pem") + ": No such file or directory");

    TlsSettings notPem;
    notPem.certificates.push_back({pki.dir().write("junk.pem", "hello\n"), pki.path("server.key")});
    EXPECT_FALSE(TlsContext::create(notPem, error, warnings));
    EXPECT_EQ(error.rfind(pki.path("junk.pem") + ": not a PEM certificate chain", 0), 0u) << error;

    TlsSettings mismatch;
    mismatch.certificates.push_back({pki.path("server.pem"), pki.path("other.key")});
    EXPECT_FALSE(TlsContext::create(mismatch, error, warnings));
    EXPECT_EQ(error, pki.path("other.key") + " does not match the certificate " + pki.path("server.pem"));

    TlsSettings keyAsCertificate;
    keyAsCertificate.certificates.push_back({pki.path("server.pem"), pki.path("server.pem")});
    EXPECT_FALSE(TlsContext::create(keyAsCertificate, error, warnings));
    EXPECT_EQ(error.rfind(pki.path("server.pem") + ": not a PEM private key", 0), 0u) << error;
    EXPECT_TRUE(warnings.empty());
}

TEST(Tls, AnExpiredCertificateIsAWarningNotAnError) {
    Pki pki;
    pki.issueExpired("expired");
    std::string error;
    std::vector<std::string> warnings;
    EXPECT_TRUE(TlsContext::create(settingsFor(pki, {"expired"}), error, warnings)) << error;
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].rfind(pki.path("expired.pem") + " expired on ", 0), 0u) << warnings[0];
}

}  // namespace
