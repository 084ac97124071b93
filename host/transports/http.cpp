#include "transports/http.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <memory>
#include <vector>

namespace plughost::transports {

namespace {

bool isTokenChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return std::string(text);
}

const char* statusText(int status) {
    switch (status) {
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 426:
            return "Upgrade Required";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        default:
            return "Error";
    }
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// The path's segments, percent-decoded; false for anything that could name a place outside the root or
// is not a plain name: "." and "..", an encoded "/" or "\", NUL, control characters.
bool segmentsOf(std::string_view path, std::vector<std::string>& segments) {
    if (path.empty() || path.front() != '/') {
        return false;
    }
    std::string segment;
    auto endSegment = [&]() {
        if (segment == "." || segment == "..") {
            return false;
        }
        if (!segment.empty()) {
            segments.push_back(segment);
        }
        segment.clear();
        return true;
    };
    for (std::size_t i = 1; i < path.size(); ++i) {
        char c = path[i];
        if (c == '/') {
            if (!endSegment()) {
                return false;
            }
            continue;
        }
        if (c == '%') {
            if (i + 2 >= path.size()) {
                return false;
            }
            const int high = hexValue(path[i + 1]);
            const int low = hexValue(path[i + 2]);
            if (high < 0 || low < 0) {
                return false;
            }
            c = static_cast<char>(high * 16 + low);
            i += 2;
            if (c == '/' || c == '\\') {
                return false;
            }
        }
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') {
            return false;
        }
        segment.push_back(c);
    }
    return endSegment();
}

std::string httpDate(std::time_t when) {
    std::tm tm{};
    gmtime_r(&when, &tm);
    char text[64];
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return text;
}

// A descriptor closed when it goes out of scope.
struct Fd {
    int fd = -1;
    explicit Fd(int value) : fd(value) {}
    ~Fd() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

}  // namespace

const std::string* HttpRequest::header(const std::string& lowerName) const {
    const auto found = headers.find(lowerName);
    return found == headers.end() ? nullptr : &found->second;
}

HttpParse parseRequest(std::string_view data, HttpRequest& request, std::size_t& used) {
    const std::size_t end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        // A bare-LF request is not HTTP/1.1 as browsers and clients send it: refused when it completes.
        if (data.find("\n\n") != std::string_view::npos) {
            return HttpParse::Bad;
        }
        return data.size() > kMaxRequestHeader ? HttpParse::TooLarge : HttpParse::Incomplete;
    }
    if (end + 4 > kMaxRequestHeader) {
        return HttpParse::TooLarge;
    }
    used = end + 4;
    std::string_view head = data.substr(0, end);
    request = HttpRequest{};
    const std::size_t lineEnd = head.find("\r\n");
    std::string_view line = head.substr(0, lineEnd);
    head = lineEnd == std::string_view::npos ? std::string_view() : head.substr(lineEnd + 2);
    // request-line = method SP request-target SP HTTP-version
    const std::size_t firstSpace = line.find(' ');
    const std::size_t secondSpace =
        firstSpace == std::string_view::npos ? firstSpace : line.find(' ', firstSpace + 1);
    if (firstSpace == 0 || firstSpace == std::string_view::npos || secondSpace == std::string_view::npos ||
        line.find(' ', secondSpace + 1) != std::string_view::npos) {
        return HttpParse::Bad;
    }
    request.method = std::string(line.substr(0, firstSpace));
    request.target = std::string(line.substr(firstSpace + 1, secondSpace - firstSpace - 1));
    request.version = std::string(line.substr(secondSpace + 1));
    for (const char c : request.method) {
        if (!isTokenChar(c)) {
            return HttpParse::Bad;
        }
    }
    if (request.target.empty() || (request.version != "HTTP/1.1" && request.version != "HTTP/1.0")) {
        return HttpParse::Bad;
    }
    for (const char c : request.target) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            return HttpParse::Bad;
        }
    }
    while (!head.empty()) {
        const std::size_t next = head.find("\r\n");
        const std::string_view field = head.substr(0, next);
        head = next == std::string_view::npos ? std::string_view() : head.substr(next + 2);
        const std::size_t colon = field.find(':');
        if (colon == 0 || colon == std::string_view::npos) {
            return HttpParse::Bad;  // also an obsolete folded line, which starts with a space
        }
        std::string name;
        for (const char c : field.substr(0, colon)) {
            if (!isTokenChar(c)) {
                return HttpParse::Bad;
            }
            name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        }
        const std::string_view rawValue = field.substr(colon + 1);
        for (const char c : rawValue) {
            if (c == '\0' || c == '\r' || c == '\n') {
                return HttpParse::Bad;
            }
        }
        std::string value = trim(rawValue);
        auto& slot = request.headers[name];
        slot = slot.empty() ? value : slot + ", " + value;
    }
    return HttpParse::Done;
}

std::string httpResponse(int status, const std::string& extraHeaders, std::string_view body, bool withBody) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + statusText(status) + "\r\n";
    out += extraHeaders;
    if (status != 101 && status != 304) {
        if (extraHeaders.find("Content-Type:") == std::string::npos) {
            out += "Content-Type: text/plain; charset=utf-8\r\n";
        }
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    if (status != 101) {
        out += "Connection: close\r\n";
    }
    out += "\r\n";
    if (withBody && status != 304) {
        out.append(body.data(), body.size());
    }
    return out;
}

const char* contentTypeFor(std::string_view name) {
    struct Type {
        const char* extension;
        const char* type;
    };
    static const Type types[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
        {".wasm", "application/wasm"},
        {".webmanifest", "application/manifest+json"},
    };
    const std::size_t dot = name.rfind('.');
    if (dot == std::string_view::npos) {
        return "application/octet-stream";
    }
    std::string extension;
    for (const char c : name.substr(dot)) {
        extension.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    for (const Type& type : types) {
        if (extension == type.extension) {
            return type.type;
        }
    }
    return "application/octet-stream";
}

std::string serveStatic(const std::string& root, const HttpRequest& request) {
    const bool head = request.method == "HEAD";
    if (request.method != "GET" && !head) {
        return httpResponse(405, "Allow: GET, HEAD\r\n", "method not allowed: use GET or HEAD\n");
    }
    std::string path = request.target;
    const std::size_t query = path.find_first_of("?#");
    if (query != std::string::npos) {
        path.resize(query);
    }
    std::vector<std::string> segments;
    if (!segmentsOf(path, segments)) {
        return httpResponse(400, "", "bad request: the path is not a plain path inside this site\n", !head);
    }
    const std::string notFound = "not found\n";
    // Component by component from the root, never following a symlink: nothing can lead outside it.
    Fd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.fd < 0) {
        return httpResponse(404, "", notFound, !head);
    }
    int current = dir.fd;
    std::vector<std::unique_ptr<Fd>> held;
    for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
        const int next =
            ::openat(current, segments[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            return httpResponse(404, "", notFound, !head);
        }
        held.push_back(std::make_unique<Fd>(next));
        current = next;
    }
    std::string name = segments.empty() ? "index.html" : segments.back();
    int fileFd = ::openat(current, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fileFd < 0) {
        return httpResponse(404, "", notFound, !head);
    }
    auto file = std::make_unique<Fd>(fileFd);
    struct stat info {};
    if (::fstat(file->fd, &info) != 0) {
        return httpResponse(404, "", notFound, !head);
    }
    if (S_ISDIR(info.st_mode)) {
        // A folder is its index.html, never a listing.
        held.push_back(std::move(file));
        fileFd = ::openat(held.back()->fd, "index.html", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fileFd < 0) {
            return httpResponse(404, "", notFound, !head);
        }
        file = std::make_unique<Fd>(fileFd);
        name = "index.html";
        if (::fstat(file->fd, &info) != 0) {
            return httpResponse(404, "", notFound, !head);
        }
    }
    if (!S_ISREG(info.st_mode)) {
        return httpResponse(404, "", notFound, !head);
    }
    if (static_cast<std::size_t>(info.st_size) > kMaxStaticFile) {
        return httpResponse(403, "", "forbidden: the file is larger than the host serves\n", !head);
    }
    char etag[64];
    std::snprintf(etag, sizeof etag, "\"%llx-%llx-%llx\"", static_cast<unsigned long long>(info.st_ino),
                  static_cast<unsigned long long>(info.st_size),
                  static_cast<unsigned long long>(info.st_mtim.tv_sec) * 1000000000ull +
                      static_cast<unsigned long long>(info.st_mtim.tv_nsec));
    const std::string headers = std::string("Content-Type: ") + contentTypeFor(name) + "\r\nETag: " + etag +
                                "\r\nLast-Modified: " + httpDate(info.st_mtim.tv_sec) +
                                "\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n";
    const std::string* match = request.header("if-none-match");
    if (match != nullptr && (match->find(etag) != std::string::npos || *match == "*")) {
        return httpResponse(304, headers, "");
    }
    std::string body;
    if (!head) {
        body.resize(static_cast<std::size_t>(info.st_size));
        std::size_t got = 0;
        while (got < body.size()) {
            const ssize_t n = ::read(file->fd, &body[got], body.size() - got);
            if (n <= 0) {
                break;
            }
            got += static_cast<std::size_t>(n);
        }
        body.resize(got);
        return httpResponse(200, headers, body);
    }
    std::string out = httpResponse(200, headers, "", false);
    // HEAD: the length GET would send.
    const std::string zero = "Content-Length: 0\r\n";
    const std::size_t at = out.find(zero);
    if (at != std::string::npos) {
        out.replace(at, zero.size(), "Content-Length: " + std::to_string(info.st_size) + "\r\n");
    }
    return out;
}

}  // namespace plughost::transports
