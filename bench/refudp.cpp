// plughost-refudp: the UDP reference, a minimal single-threaded echo server on 127.0.0.1.
//   plughost-refudp [--port P] [--port-file FILE] [--batch N]
// --port 0 (the default) lets the OS choose; --port-file receives the bound port (written atomically)
// once the socket is bound. SIGTERM or SIGINT stops it.
//
// A blocking loop: recvmmsg takes up to --batch datagrams (32 by default; MSG_WAITFORONE: as many as are
// already there once one has arrived), sendmmsg sends each back to where it came from. --batch 1 is the
// plain recvfrom/sendto loop.
#include <arpa/inet.h>
#include <netinet/in.h>
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

int usage(const char* why) {
    std::fprintf(stderr,
                 "plughost-refudp: %s\nusage: plughost-refudp [--port P] [--port-file FILE] [--batch N]\n",
                 why);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    long port = 0, batch = 32;
    std::string portFile;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--port") == 0) {
            port = std::strtol(argv[i + 1], nullptr, 10);
        } else if (std::strcmp(argv[i], "--port-file") == 0) {
            portFile = argv[i + 1];
        } else if (std::strcmp(argv[i], "--batch") == 0) {
            batch = std::strtol(argv[i + 1], nullptr, 10);
        } else {
            return usage("unknown option");
        }
    }
    if (argc % 2 == 0 || port < 0 || port > 65535 || batch < 1 || batch > 1024) {
        return usage("bad arguments");
    }
    struct sigaction action {};
    action.sa_handler = requestStop;  // no SA_RESTART: the blocking recvmmsg returns EINTR
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        std::perror("plughost-refudp: socket/bind");
        return 1;
    }
    if (!portFile.empty()) {
        const std::string temporary = portFile + ".tmp";
        if (FILE* file = std::fopen(temporary.c_str(), "w")) {
            std::fprintf(file, "%d\n", ntohs(address.sin_port));
            std::fclose(file);
            std::rename(temporary.c_str(), portFile.c_str());
        }
    }
    const auto n = static_cast<std::size_t>(batch);
    std::vector<char> buffers(n * 65536);
    std::vector<sockaddr_in> peers(n);
    std::vector<iovec> iov(n);
    std::vector<mmsghdr> messages(n);
    while (!stopping) {
        for (std::size_t i = 0; i < n; ++i) {
            iov[i] = iovec{buffers.data() + i * 65536, 65536};
            messages[i] = mmsghdr{};
            messages[i].msg_hdr.msg_name = &peers[i];
            messages[i].msg_hdr.msg_namelen = sizeof peers[i];
            messages[i].msg_hdr.msg_iov = &iov[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        const int got = ::recvmmsg(fd, messages.data(), static_cast<unsigned>(n), MSG_WAITFORONE, nullptr);
        if (got <= 0) {
            continue;  // EINTR (then stopping is set), or a transient error
        }
        for (int i = 0; i < got; ++i) {
            iov[i].iov_len = messages[i].msg_len;  // send back exactly what came
        }
        ::sendmmsg(fd, messages.data(), static_cast<unsigned>(got), 0);
    }
    ::close(fd);
    return 0;
}
