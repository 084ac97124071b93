// The reference: a minimal single-threaded epoll echo server, the floor plughost is measured against.
//   plughost-refecho --port P [--port-file FILE]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <unordered_map>

namespace {

volatile std::sig_atomic_t stopping = 0;

struct Connection {
    std::string pending;  // bytes the client did not take yet
    bool waitingToWrite = false;
};

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    std::string portFile;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--port") == 0) {
            port = std::atoi(argv[i + 1]);
        } else if (std::strcmp(argv[i], "--port-file") == 0) {
            portFile = argv[i + 1];
        }
    }
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGTERM, [](int) { stopping = 1; });
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    const int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 4096) != 0) {
        std::perror("bind/listen");
        return 1;
    }
    socklen_t length = sizeof address;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    if (!portFile.empty()) {
        std::ofstream(portFile + ".tmp") << ntohs(address.sin_port) << "\n";
        std::rename((portFile + ".tmp").c_str(), portFile.c_str());
    }
    const int epoll = ::epoll_create1(0);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listener;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    std::unordered_map<int, Connection> connections;
    static char buffer[65536];
    epoll_event events[256];
    while (!stopping) {
        const int ready = ::epoll_wait(epoll, events, 256, 200);
        for (int i = 0; i < ready; ++i) {
            const int fd = events[i].data.fd;
            if (fd == listener) {
                int client;
                while ((client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
                    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    epoll_event added{};
                    added.events = EPOLLIN;
                    added.data.fd = client;
                    ::epoll_ctl(epoll, EPOLL_CTL_ADD, client, &added);
                    connections[client];
                }
                continue;
            }
            Connection& connection = connections[fd];
            bool closed = false;
            if (events[i].events & EPOLLOUT) {
                const ssize_t n = ::send(fd, connection.pending.data(), connection.pending.size(), MSG_NOSIGNAL);
                if (n > 0) {
                    connection.pending.erase(0, static_cast<std::size_t>(n));
                } else if (n < 0 && errno != EAGAIN) {
                    closed = true;
                }
            }
            if (!closed && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && connection.pending.empty()) {
                const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
                if (n > 0) {
                    const ssize_t sent = ::send(fd, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL);
                    if (sent < 0 && errno != EAGAIN) {
                        closed = true;
                    } else if (sent < n) {
                        connection.pending.assign(buffer + (sent > 0 ? sent : 0), buffer + n);
                    }
                } else if (n == 0 || errno != EAGAIN) {
                    closed = true;
                }
            }
            if (closed) {
                ::epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
                ::close(fd);
                connections.erase(fd);
                continue;
            }
            // Wait for writability (and stop reading) while output is pending: echo is
            // flow-controlled by the client. Only a change of state costs a syscall.
            if (connection.waitingToWrite != !connection.pending.empty()) {
                connection.waitingToWrite = !connection.pending.empty();
                epoll_event changed{};
                changed.events = connection.waitingToWrite ? EPOLLOUT : EPOLLIN;
                changed.data.fd = fd;
                ::epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &changed);
            }
        }
    }
    return 0;
}
