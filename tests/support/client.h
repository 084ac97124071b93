#pragma once
// A blocking loopback TCP client with a deadline on every read.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace plughost::test {

using namespace std::chrono_literals;

class Client {
public:
    // Connects to host:port (IPv4 or IPv6 literal); fails the test on error.
    // `sourceAddress`, if set, binds the local end first (e.g. "127.0.0.2").
    // `receiveBuffer`, if set, shrinks the kernel's receive buffer before connecting,
    // so a client that stops reading backs up the server sooner.
    Client(std::uint16_t port, const std::string& host = "127.0.0.1", const std::string& sourceAddress = "",
           int receiveBuffer = 0);
    ~Client();
    Client(Client&& other) noexcept;
    Client& operator=(Client&& other) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return fd_ >= 0; }
    int fd() const { return fd_; }

    // Sends everything (blocking, bounded by a 10 s deadline). False on error.
    bool send(std::string_view bytes);
    // One line without its "\n" ("\r" kept). Empty optional-like: returns false on timeout/EOF.
    bool readLine(std::string& line, std::chrono::milliseconds timeout = 5s);
    // Convenience: the next line, or "<timeout>" / "<closed>".
    std::string line(std::chrono::milliseconds timeout = 5s);
    // Exactly n bytes, or fewer on timeout/EOF.
    std::string readExactly(std::size_t n, std::chrono::milliseconds timeout = 5s);
    // Whatever arrives within `timeout` (at least one read), "" on timeout.
    std::string readSome(std::chrono::milliseconds timeout = 5s);
    // True once the server closed the connection (EOF or reset) within the timeout;
    // bytes that arrive before the close are appended to `rest` if given.
    bool waitClosed(std::chrono::milliseconds timeout = 5s, std::string* rest = nullptr);
    // True if nothing (no bytes, no close) arrives within `quiet`.
    bool silentFor(std::chrono::milliseconds quiet);

    void shutdownWrite();
    // Closes with RST (SO_LINGER 0).
    void reset();
    void close();

private:
    bool fill(std::chrono::steady_clock::time_point deadline);  // one recv into buffer_
    int fd_ = -1;
    bool eof_ = false;
    std::string buffer_;
};

}  // namespace plughost::test
