#include "transports/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace plughost::transports {

namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

// The oldest error OpenSSL queued on this thread, in its words, and the queue emptied.
std::string opensslError() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "unknown error";
    }
    const char* reason = ERR_reason_error_string(code);
    return reason != nullptr ? reason : "error " + std::to_string(code);
}

// A file the host must read, checked before OpenSSL is handed its name so that the message says what
// an operator can fix ("No such file or directory") rather than a library's error code.
bool readable(const std::string& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = "cannot read " + path + ": " + std::strerror(errno);
        return false;
    }
    return true;
}

// The DNS names a certificate is for: its subjectAltName DNS entries, else its common name.
std::vector<std::string> namesOf(X509* certificate) {
    std::vector<std::string> names;
    auto* alt =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
    if (alt != nullptr) {
        for (int i = 0; i < sk_GENERAL_NAME_num(alt); ++i) {
            const GENERAL_NAME* name = sk_GENERAL_NAME_value(alt, i);
            if (name->type == GEN_DNS) {
                const ASN1_IA5STRING* dns = name->d.dNSName;
                names.push_back(lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                                  static_cast<std::size_t>(ASN1_STRING_length(dns)))));
            }
        }
        GENERAL_NAMES_free(alt);
    }
    if (names.empty()) {
        char common[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, common,
                                      sizeof common) > 0) {
            names.push_back(lower(common));
        }
    }
    return names;
}

bool nameMatches(const std::string& pattern, const std::string& name) {
    if (pattern == name) {
        return true;
    }
    // "*.example.org" matches "chat.example.org", not "example.org" nor "a.chat.example.org".
    if (pattern.size() > 2 && pattern.compare(0, 2, "*.") == 0) {
        const std::size_t dot = name.find('.');
        return dot != std::string::npos && dot > 0 && name.compare(dot, std::string::npos, pattern, 1) == 0;
    }
    return false;
}

std::string timeText(const ASN1_TIME* time) {
    BIO* bio = BIO_new(BIO_s_mem());
    ASN1_TIME_print(bio, time);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return text;
}

int onServerName(SSL* ssl, int* /*alert*/, void* arg) {
    const auto* context = static_cast<const TlsContext*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name != nullptr) {
        SSL_CTX* chosen = context->contextFor(name);
        if (chosen != nullptr && chosen != SSL_get_SSL_CTX(ssl)) {
            SSL_set_SSL_CTX(ssl, chosen);
        }
    }
    return SSL_TLSEXT_ERR_OK;  // an unknown name gets the default certificate, as web servers do
}

}  // namespace

const char* failureName(TlsFailure failure) {
    switch (failure) {
        case TlsFailure::NotTls:
            return "not_tls";
        case TlsFailure::ProtocolVersion:
            return "protocol_version";
        case TlsFailure::NoSharedCipher:
            return "no_shared_cipher";
        case TlsFailure::NoClientCertificate:
            return "no_client_certificate";
        case TlsFailure::BadClientCertificate:
            return "bad_client_certificate";
        case TlsFailure::Renegotiation:
            return "renegotiation";
        case TlsFailure::UnexpectedEof:
            return "unexpected_eof";
        case TlsFailure::Reset:
            return "reset";
        case TlsFailure::Timeout:
            return "timeout";
        case TlsFailure::Error:
            break;
    }
    return "error";
}

std::shared_ptr<const TlsContext> TlsContext::create(const TlsSettings& settings, std::string& error,
                                                     std::vector<std::string>& warnings) {
    ERR_clear_error();
    if (settings.certificates.empty()) {
        error = "no certificate";
        return nullptr;
    }
    auto context = std::shared_ptr<TlsContext>(new TlsContext());
    for (const auto& files : settings.certificates) {
        if (!readable(files.certificate, error) || !readable(files.key, error)) {
            return nullptr;
        }
        SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
        if (!ctx) {
            error = "cannot create a TLS context: " + opensslError();
            return nullptr;
        }
        SSL_CTX_set_min_proto_version(ctx.get(), settings.minVersion);
        // No renegotiation (a client-driven CPU cost and a history of attacks), no compression (CRIME).
        SSL_CTX_set_options(
            ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
        // Partial writes and a moving buffer suit the session's output queue; released buffers keep an
        // idle TLS session small.
        SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                        SSL_MODE_RELEASE_BUFFERS);
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.certificate.c_str()) != 1) {
            error = files.certificate + ": not a PEM certificate chain (" + opensslError() + ")";
            return nullptr;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
            // OpenSSL checks the key against the certificate as it loads it.
            if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
                ERR_clear_error();
                error = files.key + " does not match the certificate " + files.certificate;
            } else {
                error = files.key + ": not a PEM private key (" + opensslError() + ")";
            }
            return nullptr;
        }
        if (SSL_CTX_check_private_key(ctx.get()) != 1) {
            ERR_clear_error();
            error = files.key + " does not match the certificate " + files.certificate;
            return nullptr;
        }
        X509* leaf = SSL_CTX_get0_certificate(ctx.get());
        if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
            warnings.push_back(files.certificate + " expired on " + timeText(X509_get0_notAfter(leaf)));
        } else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
            warnings.push_back(files.certificate + " is not valid before " +
                               timeText(X509_get0_notBefore(leaf)));
        }
        if (!settings.clientCa.empty()) {
            if (!readable(settings.clientCa, error)) {
                return nullptr;
            }
            if (SSL_CTX_load_verify_locations(ctx.get(), settings.clientCa.c_str(), nullptr) != 1) {
                error = settings.clientCa + ": not a PEM certificate bundle (" + opensslError() + ")";
                return nullptr;
            }
            STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.clientCa.c_str());
            if (names == nullptr) {
                error = settings.clientCa + ": no certificate in it (" + opensslError() + ")";
                return nullptr;
            }
            SSL_CTX_set_client_CA_list(ctx.get(), names);
            SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        }
        static const unsigned char kSessionContext[] = "plughost";
        SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
        context->contexts_.push_back({std::move(ctx), namesOf(leaf)});
    }
    if (context->contexts_.size() > 1) {
        SSL_CTX* first = context->contexts_.front().ctx.get();
        SSL_CTX_set_tlsext_servername_callback(first, onServerName);
        SSL_CTX_set_tlsext_servername_arg(first, context.get());
    }
    return context;
}

SSL_CTX* TlsContext::contextFor(const char* serverName) const {
    const std::string name = lower(serverName);
    for (const auto& entry : contexts_) {
        for (const auto& pattern : entry.names) {
            if (nameMatches(pattern, name)) {
                return entry.ctx.get();
            }
        }
    }
    return nullptr;
}

TlsConnection::TlsConnection(std::shared_ptr<const TlsContext> context, int fd)
    : context_(std::move(context)), ssl_(SSL_new(context_->defaultContext())) {
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd) != 1) {
        throw std::runtime_error("cannot set up TLS for a connection: " + opensslError());
    }
    SSL_set_accept_state(ssl_.get());
}

TlsStatus TlsConnection::handshake() {
    ERR_clear_error();
    const int result = SSL_do_handshake(ssl_.get());
    if (result == 1) {
        handshaken_ = true;
        return TlsStatus::Done;
    }
    return status(result, "handshake");
}

TlsStatus TlsConnection::read(char* buffer, std::size_t capacity, std::size_t& n) {
    ERR_clear_error();
    n = 0;
    if (SSL_read_ex(ssl_.get(), buffer, capacity, &n) == 1) {
        return TlsStatus::Done;
    }
    return status(0, "read");
}

std::uint64_t TlsConnection::written() const { return BIO_number_written(SSL_get_wbio(ssl_.get())); }

bool TlsConnection::pending() const { return SSL_has_pending(ssl_.get()) == 1; }

TlsStatus TlsConnection::write(const char* data, std::size_t size, std::size_t& n) {
    ERR_clear_error();
    n = 0;
    if (SSL_write_ex(ssl_.get(), data, size, &n) == 1) {
        return TlsStatus::Done;
    }
    return status(0, "write");
}

void TlsConnection::shutdown() {
    if (handshaken_) {
        ERR_clear_error();
        SSL_shutdown(ssl_.get());
        ERR_clear_error();
    }
}

TlsStatus TlsConnection::status(int result, const char* operation) {
    const int savedErrno = errno;
    const int code = SSL_get_error(ssl_.get(), result);
    switch (code) {
        case SSL_ERROR_WANT_READ:
            return TlsStatus::WantRead;
        case SSL_ERROR_WANT_WRITE:
            return TlsStatus::WantWrite;
        case SSL_ERROR_ZERO_RETURN:
            return TlsStatus::Closed;
        case SSL_ERROR_SYSCALL:
            failure_ = TlsFailure::Reset;
            detail_ = std::string(operation) + ": " +
                      (savedErrno != 0 ? std::strerror(savedErrno) : "connection closed");
            ERR_clear_error();
            return handshaken_ ? TlsStatus::Closed : TlsStatus::Failed;
        default:
            break;
    }
    const unsigned long error = ERR_peek_error();
    const int reason = ERR_GET_REASON(error);
    detail_ = std::string(operation) + ": " + opensslError();
    switch (reason) {
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
            // A client that drops the connection without close_notify (most plaintext-minded tools do)
            // has closed it; before the handshake finished it gave up on it.
            if (handshaken_) {
                return TlsStatus::Closed;
            }
            failure_ = TlsFailure::UnexpectedEof;
            break;
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_HTTP_REQUEST:
        case SSL_R_HTTPS_PROXY_REQUEST:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_RECORD_LENGTH_MISMATCH:
        case SSL_R_UNKNOWN_PROTOCOL:
            failure_ = TlsFailure::NotTls;
            break;
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_VERSION_TOO_LOW:
        case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
            failure_ = TlsFailure::ProtocolVersion;
            break;
        case SSL_R_NO_SHARED_CIPHER:
            failure_ = TlsFailure::NoSharedCipher;
            break;
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
            failure_ = TlsFailure::NoClientCertificate;
            break;
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
            failure_ = TlsFailure::BadClientCertificate;
            break;
        case SSL_R_NO_RENEGOTIATION:
            failure_ = TlsFailure::Renegotiation;
            break;
        default:
            failure_ = TlsFailure::Error;
            break;
    }
    return TlsStatus::Failed;
}

TlsInfo TlsConnection::info() const {
    TlsInfo info;
    SSL* ssl = ssl_.get();
    info.version = SSL_get_version(ssl);
    if (const char* cipher = SSL_get_cipher_name(ssl)) {
        info.cipher = cipher;
    }
    if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
        info.serverName = name;
    }
    if (X509* peer = SSL_get0_peer_certificate(ssl)) {
        BIO* bio = BIO_new(BIO_s_mem());
        X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
        char* data = nullptr;
        const long size = BIO_get_mem_data(bio, &data);
        info.peerSubject.assign(data, static_cast<std::size_t>(size));
        BIO_free(bio);
    }
    return info;
}

}  // namespace plughost::transports
