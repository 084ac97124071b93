#include "support/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace plughost::test {

namespace {

using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

Client::Client(std::uint16_t port, const std::string& host, const std::string& sourceAddress,
               int receiveBuffer) {
    const bool v6 = host.find(':') != std::string::npos;
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        ADD_FAILURE() << "socket: " << std::strerror(errno);
        return;
    }
    sockaddr_storage address{};
    socklen_t length = 0;
    auto fill = [&](const std::string& ip, std::uint16_t p) {
        address = {};
        if (v6) {
            auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(p);
            ::inet_pton(AF_INET6, ip.c_str(), &in6->sin6_addr);
            length = sizeof(sockaddr_in6);
        } else {
            auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
            in4->sin_family = AF_INET;
            in4->sin_port = htons(p);
            ::inet_pton(AF_INET, ip.c_str(), &in4->sin_addr);
            length = sizeof(sockaddr_in);
        }
    };
    if (receiveBuffer > 0) {
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
    }
    if (!sourceAddress.empty()) {
        fill(sourceAddress, 0);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0) {
            ADD_FAILURE() << "bind " << sourceAddress << ": " << std::strerror(errno);
        }
    }
    fill(host, port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0) {
        ADD_FAILURE() << "connect " << host << ":" << port << ": " << std::strerror(errno);
        ::close(fd_);
        fd_ = -1;
        return;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Client::~Client() { close(); }

Client::Client(Client&& other) noexcept
    : fd_(other.fd_), eof_(other.eof_), buffer_(std::move(other.buffer_)) {
    other.fd_ = -1;
}

Client& Client::operator=(Client&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = other.fd_;
        eof_ = other.eof_;
        buffer_ = std::move(other.buffer_);
        other.fd_ = -1;
    }
    return *this;
}

void Client::close() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

void Client::shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

void Client::reset() {
    const linger hard{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close();
}

bool Client::send(std::string_view bytes) {
    const auto deadline = Clock::now() + 10s;
    while (!bytes.empty()) {
        pollfd waiting{fd_, POLLOUT, 0};
        if (::poll(&waiting, 1, remainingMs(deadline)) <= 0) {
            return false;
        }
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool Client::fill(Clock::time_point deadline) {
    if (eof_ || fd_ < 0) {
        return false;
    }
    pollfd waiting{fd_, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, remainingMs(deadline));
    if (ready <= 0) {
        return false;
    }
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return true;
    }
    eof_ = true;
    return false;
}

bool Client::readLine(std::string& line, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        const auto newline = buffer_.find('\n');
        if (newline != std::string::npos) {
            line = buffer_.substr(0, newline);
            buffer_.erase(0, newline + 1);
            return true;
        }
        if (!fill(deadline)) {
            return false;
        }
    }
}

std::string Client::line(std::chrono::milliseconds timeout) {
    std::string text;
    if (readLine(text, timeout)) {
        return text;
    }
    return eof_ ? "<closed>" : "<timeout>";
}

std::string Client::readExactly(std::size_t n, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (buffer_.size() < n && fill(deadline)) {
    }
    const std::size_t take = std::min(n, buffer_.size());
    std::string out = buffer_.substr(0, take);
    buffer_.erase(0, take);
    return out;
}

std::string Client::readSome(std::chrono::milliseconds timeout) {
    if (buffer_.empty()) {
        fill(Clock::now() + timeout);
    }
    std::string out;
    out.swap(buffer_);
    return out;
}

bool Client::waitClosed(std::chrono::milliseconds timeout, std::string* rest) {
    const auto deadline = Clock::now() + timeout;
    while (!eof_ && Clock::now() < deadline) {
        fill(deadline);
    }
    if (rest != nullptr) {
        rest->append(buffer_);
    }
    buffer_.clear();
    return eof_;
}

bool Client::silentFor(std::chrono::milliseconds quiet) {
    if (!buffer_.empty() || eof_) {
        return false;
    }
    pollfd waiting{fd_, POLLIN, 0};
    return ::poll(&waiting, 1, static_cast<int>(quiet.count())) == 0;
}

}  // namespace plughost::test
