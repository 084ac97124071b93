#pragma once
// Certificates for the TLS tests, made by the openssl command line tool as an
// operator would: a CA in a temp folder, and certificates it signs.

#include <string>

#include "support/host_process.h"

namespace plughost::test {

class Pki {
public:
    Pki();  // the CA: ca.pem, ca.key
    std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
    const TempDir& dir() const { return dir_; }
    // FILE.pem and FILE.key (FILE defaults to NAME) for subject CN=NAME with the given subjectAltName
    // ("DNS:localhost,DNS:*.example.org", or empty for none), signed by the CA, valid for two days.
    void issue(const std::string& name, const std::string& altNames, const std::string& file = "");
    // NAME.pem and NAME.key: self-signed, CN=NAME, valid until yesterday (made through the OpenSSL API:
    // the 3.0 command line cannot back-date one without a CA database).
    void issueExpired(const std::string& name);

private:
    TempDir dir_;
};

}  // namespace plughost::test
