#pragma once
// transports/http: the HTTP/1.1 a WebSocket listener needs — the request head of an upgrade, and a small
// static file server for the page that speaks to it. Our own rather than Poco's HTTPRequest/HTTPServer:
// those read from a blocking stream on a thread of their own, and this runs on the host's epoll loop,
// fed whatever bytes arrived (../shared/LIBRARIES.md). Fuzzed in tests/fuzz/fuzz_websocket.cpp.
//
// Owns: parsing a request head with a bounded size, and answering GET/HEAD from one folder without
// ever leaving it. Never touches sockets or sessions.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace plughost::transports {

// The largest request head (request line and headers) the host reads; past it: 431.
constexpr std::size_t kMaxRequestHeader = 8192;

struct HttpRequest {
    std::string method;
    std::string target;                          // as sent: "/chat?x=1"
    std::string version;                         // "HTTP/1.1"
    std::map<std::string, std::string> headers;  // names in lower case; repeated ones joined with ", "
    const std::string* header(const std::string& lowerName) const;
};

enum class HttpParse { Incomplete, Done, Bad, TooLarge };
// Parses a request head from the start of `data`; with Done, `used` is its length (through the blank line).
HttpParse parseRequest(std::string_view data, HttpRequest& request, std::size_t& used);

// A whole response: status line, headers and (for `body`) the body; Connection: close.
std::string httpResponse(int status, const std::string& extraHeaders, std::string_view body,
                         bool withBody = true);

// Answers a GET or HEAD from `root` (absolute, resolved): the whole response. Serves regular files only,
// never a directory listing (a folder's index.html instead), never a path outside `root` — `..` or an
// encoded one, encoded slashes, NUL, or a symlink anywhere on the way (opened component by component
// with O_NOFOLLOW). Files are read on the I/O thread: they come from local disk, and only up to
// kMaxStaticFile (a page and its scripts), so a read takes microseconds from the page cache.
constexpr std::size_t kMaxStaticFile = 4 * 1024 * 1024;
std::string serveStatic(const std::string& root, const HttpRequest& request);

// "text/html; charset=utf-8" for "index.html"; application/octet-stream when unknown.
const char* contentTypeFor(std::string_view name);

}  // namespace plughost::transports
