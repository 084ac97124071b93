#include "support/pki.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>

namespace plughost::test {

namespace {

void run(const std::string& command) {
    ASSERT_EQ(std::system((command + " 2>/dev/null").c_str()), 0) << command;
}

}  // namespace

Pki::Pki() {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=test-ca "
        "-keyout " +
        path("ca.key") + " -out " + path("ca.pem"));
}

void Pki::issue(const std::string& name, const std::string& altNames, const std::string& file) {
    const std::string out = file.empty() ? name : file;
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + name + " -keyout " +
        path(out + ".key") + " -out " + path(out + ".csr"));
    dir_.write(out + ".ext", "basicConstraints=CA:FALSE\n" +
                                 (altNames.empty() ? std::string() : "subjectAltName=" + altNames + "\n"));
    run("openssl x509 -req -days 2 -in " + path(out + ".csr") + " -CA " + path("ca.pem") + " -CAkey " +
        path("ca.key") + " -CAcreateserial -extfile " + path(out + ".ext") + " -out " + path(out + ".pem"));
}

void Pki::issueExpired(const std::string& name) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* certificate = X509_new();
    X509_set_version(certificate, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), 7);
    X509_gmtime_adj(X509_getm_notBefore(certificate), -2 * 86400);
    X509_gmtime_adj(X509_getm_notAfter(certificate), -86400);
    X509_set_pubkey(certificate, key);
    X509_NAME* subject = X509_get_subject_name(certificate);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
    X509_set_issuer_name(certificate, subject);
    X509_sign(certificate, key, EVP_sha256());
    if (FILE* out = std::fopen(path(name + ".pem").c_str(), "w")) {
        PEM_write_X509(out, certificate);
        std::fclose(out);
    }
    if (FILE* out = std::fopen(path(name + ".key").c_str(), "w")) {
        PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(out);
    }
    X509_free(certificate);
    EVP_PKEY_free(key);
}

}  // namespace plughost::test
