#pragma once
// transports/tls: TLS for any service, terminated by the host on its own
// non-blocking epoll loop with OpenSSL 3 driven directly (Poco 1.11's NetSSL
// cannot run on non-blocking sockets: ../shared/LIBRARIES.md).
//
// Owns: building a server context from certificate files (with SNI, client
// certificates and the secure defaults), and one connection's TLS state over
// a descriptor the caller owns. It never touches epoll, sessions or plugins:
// each call says what the connection waits for (readable or writable) and the
// session arms the loop accordingly.

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace plughost::transports {

struct TlsCertificate {
    std::string certificate;  // PEM chain, leaf first; an absolute path
    std::string key;          // PEM private key; an absolute path
};

struct TlsSettings {
    // The first is the default; the others are chosen by the client's server name (SNI) when it matches
    // one of their names (subjectAltName DNS entries, or the common name when there are none).
    std::vector<TlsCertificate> certificates;
    std::string clientCa;             // PEM; when set, clients must present a certificate it signed
    int minVersion = TLS1_2_VERSION;  // TLS1_2_VERSION or TLS1_3_VERSION
};

// Frees OpenSSL objects with their own functions.
struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// A listener's certificates, built once per (re)load and shared by the
// connections handshaking with them; a connection keeps the context it began
// with, so a reload that rotates certificates never touches open sessions.
class TlsContext {
public:
    // The context, or null with `error` naming the file and what is wrong with it. `warnings` gets what
    // an operator should hear but that does not stop the service (a certificate that has expired or is
    // not yet valid).
    static std::shared_ptr<const TlsContext> create(const TlsSettings& settings, std::string& error,
                                                    std::vector<std::string>& warnings);

    SSL_CTX* defaultContext() const { return contexts_.front().ctx.get(); }
    // The context for a server name, or null when none of the certificates has it.
    SSL_CTX* contextFor(const char* serverName) const;

private:
    struct Entry {
        SslCtxPtr ctx;
        std::vector<std::string> names;  // lower case; "*.example.org" matches one label
    };
    std::vector<Entry> contexts_;
};

// What a connection read or wrote, or what it waits for.
enum class TlsStatus {
    Done,       // the handshake finished, or bytes were read or written (see the count)
    WantRead,   // call again once the descriptor is readable
    WantWrite,  // call again once the descriptor is writable
    Closed,     // the peer closed the TLS session (close_notify) or the connection
    Failed,     // a protocol error, or the peer vanished mid-record; failure() says which
};

// Why a handshake failed; counted per reason in status and metrics (tls_failed).
enum class TlsFailure {
    NotTls,           // garbage, or plaintext, instead of a ClientHello
    ProtocolVersion,  // below min_version (TLS 1.0, 1.1, SSL 3)
    NoSharedCipher,
    NoClientCertificate,   // client_ca is set and the client sent none
    BadClientCertificate,  // one that client_ca did not sign, or expired
    Renegotiation,
    UnexpectedEof,  // the client closed the connection mid-handshake
    Reset,          // the connection was reset mid-handshake
    Timeout,        // the handshake did not finish within handshake_timeout
    Error,          // anything else
};
constexpr std::size_t kTlsFailureCount = static_cast<std::size_t>(TlsFailure::Error) + 1;
// "not_tls", "protocol_version", … as a metric label and in logs.
const char* failureName(TlsFailure failure);

// What a plugin may learn about a TLS connection (read-only, after the handshake).
struct TlsInfo {
    std::string version;      // "TLSv1.3"
    std::string cipher;       // "TLS_AES_256_GCM_SHA384"
    std::string peerSubject;  // RFC 2253, empty without a client certificate
    std::string serverName;   // what the client asked for by SNI, or empty
};

// One connection's TLS, server side, over a non-blocking descriptor owned by the caller.
class TlsConnection {
public:
    TlsConnection(std::shared_ptr<const TlsContext> context, int fd);

    bool handshaken() const { return handshaken_; }
    TlsStatus handshake();
    // Reads plaintext into buffer; `n` is what was read when the status is Done.
    TlsStatus read(char* buffer, std::size_t capacity, std::size_t& n);
    // Plaintext buffered inside OpenSSL that a read would return without the descriptor being readable.
    bool pending() const;
    // Writes plaintext; `n` is what was taken (possibly less than size) when the status is Done.
    TlsStatus write(const char* data, std::size_t size, std::size_t& n);
    // Bytes written to the descriptor so far: ciphertext, handshake and alerts included.
    std::uint64_t written() const;
    // Sends close_notify (best effort, never blocking).
    void shutdown();

    // Why the last call failed (meaningful after a Failed status).
    TlsFailure failure() const { return failure_; }
    // The detail OpenSSL gave for it (for a debug log).
    const std::string& failureDetail() const { return detail_; }
    TlsInfo info() const;

private:
    TlsStatus status(int result, const char* operation);

    std::shared_ptr<const TlsContext> context_;
    SslPtr ssl_;
    bool handshaken_ = false;
    TlsFailure failure_ = TlsFailure::Error;
    std::string detail_;
};

}  // namespace plughost::transports
