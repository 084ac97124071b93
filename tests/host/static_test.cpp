// Static files beside a WebSocket listener (static: DIR): content types, index.html, caching headers,
// 304, HEAD, 404/405/400, and no way out of the folder — over real loopback sockets to the real host.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/client.h"
#include "support/host_process.h"

using namespace plughost::test;

namespace {

// The host's open sockets (each session holds one): other descriptors come and go on their own (a /dev/null
// the host opens now and then was seen under load), sockets only with connections.
int openSockets(const HostProcess& host) {
    return std::stoi("0" + capture("ls -l /proc/" + std::to_string(host.pid()) + "/fd | grep -c socket:"));
}

class Static : public ::testing::Test {
protected:
    void SetUp() override {
        // site/ is served; secret.txt beside it must never be.
        ::mkdir((dir.path() + "/site").c_str(), 0755);
        ::mkdir((dir.path() + "/site/css").c_str(), 0755);
        ::mkdir((dir.path() + "/site/empty").c_str(), 0755);
        dir.write("site/index.html", "<!doctype html><title>chat</title>\n");
        dir.write("site/css/page.css", "body { color: black; }\n");
        dir.write("site/app.js", "console.log('hi');\n");
        dir.write("site/logo.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>\n");
        dir.write("site/data.bin", "\x01\x02");
        dir.write("secret.txt", "the secret\n");
        ::symlink((dir.path() + "/secret.txt").c_str(), (dir.path() + "/site/link.txt").c_str());
        ::symlink(dir.path().c_str(), (dir.path() + "/site/up").c_str());
        host = std::make_unique<HostProcess>(
            "services:\n  confirm:\n    plugin: confirm\n    settings: {framing: lines}\n    listen:\n"
            "      - {address: 127.0.0.1:0, websocket: {path: /ws}, static: " +
            dir.path() + "/site}\n");
        ASSERT_TRUE(host->started()) << host->log();
        baseline = openSockets(*host);
    }
    void TearDown() override {
        if (host && host->started()) {
            EXPECT_TRUE(eventually([&] { return openSockets(*host) <= baseline; }, 10s))
                << openSockets(*host) << " vs " << baseline << "\n"
                << capture("ls -l /proc/" + std::to_string(host->pid()) + "/fd");
        }
    }
    // The whole answer to a raw request (the server closes after it).
    std::string ask(const std::string& request) {
        Client client(host->port("confirm"));
        EXPECT_TRUE(client.send(request));
        std::string answer;
        EXPECT_TRUE(client.waitClosed(5s, &answer)) << request;
        return answer;
    }
    std::string get(const std::string& path, const std::string& extra = "") {
        return ask("GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n");
    }
    static std::string status(const std::string& answer) { return answer.substr(0, answer.find("\r\n")); }
    static std::string header(const std::string& answer, const std::string& name) {
        const auto at = answer.find("\r\n" + name + ": ");
        if (at == std::string::npos) {
            return "";
        }
        const auto start = at + name.size() + 4;
        return answer.substr(start, answer.find("\r\n", start) - start);
    }
    static std::string body(const std::string& answer) { return answer.substr(answer.find("\r\n\r\n") + 4); }

    TempDir dir;
    std::unique_ptr<HostProcess> host;
    int baseline = 0;
};

TEST_F(Static, ServesIndexHtmlForTheRootWithItsTypeAndCachingHeaders) {
    const std::string answer = get("/");
    EXPECT_EQ(status(answer), "HTTP/1.1 200 OK") << answer;
    EXPECT_EQ(header(answer, "Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(body(answer), "<!doctype html><title>chat</title>\n");
    EXPECT_EQ(header(answer, "Content-Length"), "35");
    EXPECT_FALSE(header(answer, "ETag").empty());
    EXPECT_FALSE(header(answer, "Last-Modified").empty());
    EXPECT_EQ(header(answer, "Cache-Control"), "no-cache");
}

TEST_F(Static, ContentTypesFollowTheUsualWebTypes) {
    EXPECT_EQ(header(get("/css/page.css"), "Content-Type"), "text/css; charset=utf-8");
    EXPECT_EQ(header(get("/app.js"), "Content-Type"), "text/javascript; charset=utf-8");
    EXPECT_EQ(header(get("/logo.svg"), "Content-Type"), "image/svg+xml");
    EXPECT_EQ(header(get("/data.bin"), "Content-Type"), "application/octet-stream");
    EXPECT_EQ(header(get("/index.html?v=2"), "Content-Type"), "text/html; charset=utf-8");
}

TEST_F(Static, IfNoneMatchWithTheETagIs304WithoutABody) {
    const std::string etag = header(get("/app.js"), "ETag");
    ASSERT_FALSE(etag.empty());
    const std::string answer = get("/app.js", "If-None-Match: " + etag + "\r\n");
    EXPECT_EQ(status(answer), "HTTP/1.1 304 Not Modified") << answer;
    EXPECT_EQ(body(answer), "");
    EXPECT_EQ(status(get("/app.js", "If-None-Match: \"other\"\r\n")), "HTTP/1.1 200 OK");
}

TEST_F(Static, HeadSendsTheHeadersOfGetWithoutTheBody) {
    const std::string answer = ask("HEAD /app.js HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status(answer), "HTTP/1.1 200 OK");
    EXPECT_EQ(header(answer, "Content-Length"), "19");
    EXPECT_EQ(body(answer), "");
}

TEST_F(Static, MissingFilesAndFoldersWithoutIndexAre404AndNothingIsListed) {
    EXPECT_EQ(status(get("/nope.html")), "HTTP/1.1 404 Not Found");
    EXPECT_EQ(status(get("/css/")), "HTTP/1.1 404 Not Found");
    EXPECT_EQ(status(get("/empty")), "HTTP/1.1 404 Not Found");
}

TEST_F(Static, OtherMethodsAre405WithAllow) {
    const std::string answer = ask("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(status(answer), "HTTP/1.1 405 Method Not Allowed");
    EXPECT_EQ(header(answer, "Allow"), "GET, HEAD");
}

TEST_F(Static, MalformedRequestsAre400) {
    EXPECT_EQ(status(ask("GET /\r\n\r\n")), "HTTP/1.1 400 Bad Request");
    EXPECT_EQ(status(ask("GET / HTTP/1.1\r\nno colon here\r\n\r\n")), "HTTP/1.1 400 Bad Request");
    EXPECT_EQ(status(ask("GET / HTTP/9.9\r\n\r\n")), "HTTP/1.1 400 Bad Request");
}

TEST_F(Static, NothingOutsideTheFolderCanBeReached) {
    for (const std::string path :
         {"/../secret.txt", "/css/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
          "/css/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt", "/css%2f..%2f..%2fsecret.txt", "/%00",
          "/index.html%00.txt", "/..\\secret.txt", "/link.txt", "/up/secret.txt", "/%5c..%5csecret.txt"}) {
        const std::string answer = get(path);
        EXPECT_TRUE(status(answer) == "HTTP/1.1 400 Bad Request" ||
                    status(answer) == "HTTP/1.1 404 Not Found")
            << path << ": " << answer;
        EXPECT_EQ(answer.find("the secret"), std::string::npos) << path;
    }
}

TEST_F(Static, TheWebSocketPathStillUpgrades) {
    Client client(host->port("confirm"));
    ASSERT_TRUE(
        client.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
    EXPECT_EQ(client.line(), "HTTP/1.1 101 Switching Protocols\r");
    std::string last;
    EXPECT_TRUE(waitStatus(*host, "\"upgrades\": *1", last)) << last;
}

}  // namespace
