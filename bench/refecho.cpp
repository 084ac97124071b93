// plughost-refecho: the reference, a minimal single-threaded epoll echo server on 127.0.0.1 - the floor
// nobody should be far above.
//   plughost-refecho [--port P] [--port-file FILE]
// --port 0 (the default) lets the OS choose; --port-file receives the bound port (written atomically)
// once the socket listens. SIGTERM or SIGINT stops it.
//
// Level-triggered: one recv per readable event, echoed at once. What the client does not take stays in
// the connection's pending buffer; until it is gone the connection waits for EPOLLOUT and is not read, so
// a client that does not read cannot make the server buffer without bound.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile std::sig_atomic_t stopping = 0;

extern "C" void requestStop(int) { stopping = 1; }

struct Connection {
    std::string pending;   // echoed bytes the client did not take yet
    bool writing = false;  // waiting for EPOLLOUT (and not reading) while pending is not empty
};

int usage(const char* why) {
    std::fprintf(stderr, "plughost-refecho: %s\nusage: plughost-refecho [--port P] [--port-file FILE]\n",
                 why);
    return 2;
}

bool writePortFile(const std::string& path, int port) {
    const std::string temporary = path + ".tmp";
    FILE* file = std::fopen(temporary.c_str(), "w");
    if (file == nullptr) {
        return false;
    }
    const bool written = std::fprintf(file, "%d\n", port) > 0;
    return std::fclose(file) == 0 && written && std::rename(temporary.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    long port = 0;
    std::string portFile;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            return usage("an option lacks its value");
        }
        if (std::strcmp(argv[i], "--port") == 0) {
            char* end = nullptr;
            port = std::strtol(argv[i + 1], &end, 10);
            if (*end != '\0' || port < 0 || port > 65535) {
                return usage("--port must be 0..65535");
            }
        } else if (std::strcmp(argv[i], "--port-file") == 0) {
            portFile = argv[i + 1];
        } else {
            return usage("unknown option");
        }
    }
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGTERM, requestStop);
    std::signal(SIGINT, requestStop);
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);

    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener, SOMAXCONN) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        std::perror("plughost-refecho: bind/listen");
        return 1;
    }
    if (!portFile.empty() && !writePortFile(portFile, ntohs(address.sin_port))) {
        std::perror("plughost-refecho: port file");
        return 1;
    }

    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    auto watch = [epoll](int op, int fd, std::uint32_t events) {
        epoll_event event{};
        event.events = events;
        event.data.fd = fd;
        ::epoll_ctl(epoll, op, fd, &event);
    };
    watch(EPOLL_CTL_ADD, listener, EPOLLIN);
    bool accepting = true;                // off while out of descriptors, so the listener cannot spin
    std::vector<Connection> connections;  // by descriptor
    static char buffer[65536];
    epoll_event events[256];
    while (!stopping) {
        const int ready = ::epoll_wait(epoll, events, 256, 200);
        for (int i = 0; i < ready; ++i) {
            const int fd = events[i].data.fd;
            if (fd == listener) {
                for (;;) {
                    const int client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (client < 0) {
                        if (errno == EMFILE || errno == ENFILE) {
                            watch(EPOLL_CTL_DEL, listener, 0);
                            accepting = false;
                        }
                        break;
                    }
                    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    if (static_cast<std::size_t>(client) >= connections.size()) {
                        connections.resize(static_cast<std::size_t>(client) + 1024);
                    }
                    connections[static_cast<std::size_t>(client)] = Connection{};
                    watch(EPOLL_CTL_ADD, client, EPOLLIN);
                }
                continue;
            }
            Connection& connection = connections[static_cast<std::size_t>(fd)];
            bool closed = false;
            if (connection.writing) {
                const ssize_t n =
                    ::send(fd, connection.pending.data(), connection.pending.size(), MSG_NOSIGNAL);
                if (n > 0) {
                    connection.pending.erase(0, static_cast<std::size_t>(n));
                } else if (n < 0 && errno != EAGAIN) {
                    closed = true;
                }
            } else {
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
                ::close(fd);  // also removes it from the epoll set
                connection = Connection{};
                if (!accepting) {
                    watch(EPOLL_CTL_ADD, listener, EPOLLIN);
                    accepting = true;
                }
                continue;
            }
            // Only a change of state costs a syscall.
            if (connection.writing != !connection.pending.empty()) {
                connection.writing = !connection.pending.empty();
                watch(EPOLL_CTL_MOD, fd, connection.writing ? EPOLLOUT : EPOLLIN);
            }
        }
    }
    return 0;
}
