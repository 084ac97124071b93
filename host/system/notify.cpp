#include "system/notify.h"

#include <Poco/Logger.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace plughost::system {

namespace {

Poco::Logger& logger() { return Poco::Logger::get("plughost"); }

// Reads an environment variable and unsets it; nullopt when it was not set.
std::optional<std::string> takeEnvironment(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr) {
        return std::nullopt;
    }
    std::string copy = value;
    ::unsetenv(name);
    return copy;
}

std::optional<unsigned long long> parseUnsigned(const std::string& text) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    errno = 0;
    const unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
    return errno == 0 ? std::optional<unsigned long long>(value) : std::nullopt;
}

std::string oneLine(std::string text) {
    for (char& c : text) {
        if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return text;
}

}  // namespace

std::uint64_t monotonicMicros() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000000u +
           static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
}

// ---- NotifySocket ------------------------------------------------------------

std::unique_ptr<NotifySocket> NotifySocket::fromEnvironment() {
    const auto address = takeEnvironment("NOTIFY_SOCKET");
    if (!address || address->empty()) {
        return nullptr;
    }
    try {
        return std::make_unique<NotifySocket>(*address);
    } catch (const std::exception& error) {
        logger().warning("NOTIFY_SOCKET ignored: %s", std::string(error.what()));
        return nullptr;
    }
}

NotifySocket::NotifySocket(const std::string& address) {
    if (address[0] != '/' && address[0] != '@') {
        throw std::runtime_error("'" + address + "' is not a Unix socket path or @abstract name");
    }
    if (address.size() >= sizeof address_.sun_path) {
        throw std::runtime_error("'" + address + "' is too long for a Unix socket address");
    }
    address_.sun_family = AF_UNIX;
    std::memcpy(address_.sun_path, address.data(), address.size());
    if (address[0] == '@') {
        address_.sun_path[0] = '\0';  // the abstract namespace: no trailing NUL counts
    }
    length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        throw std::runtime_error(std::string("cannot create a datagram socket: ") + std::strerror(errno));
    }
}

NotifySocket::~NotifySocket() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool NotifySocket::send(const std::string& message) {
    ssize_t sent;
    do {
        sent = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL,
                        reinterpret_cast<const sockaddr*>(&address_), length_);
    } while (sent < 0 && errno == EINTR);
    if (sent == static_cast<ssize_t>(message.size())) {
        return true;
    }
    if (!warned_) {
        warned_ = true;
        logger().warning("cannot notify the service manager: %s", std::string(std::strerror(errno)));
    }
    return false;
}

std::optional<std::chrono::microseconds> watchdogFromEnvironment() {
    const auto usec = takeEnvironment("WATCHDOG_USEC");
    const auto pid = takeEnvironment("WATCHDOG_PID");
    if (!usec) {
        return std::nullopt;
    }
    if (pid) {
        const auto parsed = parseUnsigned(*pid);
        if (!parsed || *parsed != static_cast<unsigned long long>(::getpid())) {
            return std::nullopt;  // meant for another process
        }
    }
    const auto parsed = parseUnsigned(*usec);
    if (!parsed || *parsed == 0) {
        logger().warning("WATCHDOG_USEC=%s ignored: not a positive number of microseconds", *usec);
        return std::nullopt;
    }
    return std::chrono::microseconds(*parsed);
}

// ---- Notifier ----------------------------------------------------------------

Notifier::Notifier(std::unique_ptr<NotifySocket> socket, std::optional<std::chrono::microseconds> watchdog,
                   Reporter& reporter, std::chrono::milliseconds statusInterval)
    : socket_(std::move(socket)), watchdog_(watchdog), reporter_(reporter), statusInterval_(statusInterval) {
    if (watchdog_ && *watchdog_ < std::chrono::milliseconds(500)) {
        logger().warning(
            "watchdog interval %s ms is shorter than the I/O loops' heartbeat allows (at least 500 ms; "
            "WatchdogSec=1s or more is sensible)",
            std::to_string(watchdog_->count() / 1000));
    }
    thread_ = std::thread([this] { run(); });
}

Notifier::~Notifier() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        quit_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void Notifier::ready() {
    const std::string summary = oneLine(reporter_.summary(true));
    std::lock_guard<std::mutex> lock(mutex_);
    lastStatus_ = summary;
    socket_->send("READY=1\nSTATUS=" + summary);
    ready_ = true;
    running_ = true;
    lastBeats_ = reporter_.heartbeats();
    wake_.notify_all();
}

void Notifier::reloading() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (reloads_++ == 0) {
        socket_->send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonicMicros()) +
                      "\nSTATUS=reloading the configuration");
        lastStatus_ = "reloading the configuration";
    }
}

void Notifier::reloaded() {
    const std::string summary = oneLine(reporter_.summary(true));
    std::lock_guard<std::mutex> lock(mutex_);
    if (reloads_ > 0 && --reloads_ == 0) {
        lastStatus_ = summary;
        socket_->send("READY=1\nSTATUS=" + summary);
    }
}

void Notifier::stopping(const std::string& status) {
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
    lastStatus_ = oneLine(status);
    socket_->send("STOPPING=1\nSTATUS=" + lastStatus_);
}

void Notifier::status(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    lastStatus_ = oneLine(line);
    socket_->send("STATUS=" + lastStatus_);
}

void Notifier::run() {
    ::pthread_setname_np(::pthread_self(), "sd-notify");  // how `top -H` and the tests tell it apart
    using Clock = std::chrono::steady_clock;
    const auto pingEvery =
        watchdog_ ? std::chrono::duration_cast<Clock::duration>(*watchdog_ / 2) : Clock::duration::zero();
    bool pinging = false;
    auto nextPing = Clock::time_point::max();
    auto nextStatus = Clock::now() + statusInterval_;
    std::unique_lock<std::mutex> lock(mutex_);
    while (!quit_) {
        auto now = Clock::now();
        if (ready_ && watchdog_ && !pinging) {
            pinging = true;  // the first check compares with the heartbeats ready() saw
            nextPing = now + pingEvery;
        }
        if (pinging && now >= nextPing) {
            pingWatchdog();
            nextPing = now + pingEvery;
        }
        if (running_ && now >= nextStatus) {
            lock.unlock();
            const std::string summary = oneLine(reporter_.summary(false));  // never waits for a reload
            lock.lock();
            if (running_ && reloads_ == 0 && !summary.empty() && summary != lastStatus_) {
                lastStatus_ = summary;
                socket_->send("STATUS=" + summary);
            }
            now = Clock::now();
            nextStatus = now + statusInterval_;
        }
        auto until = pinging ? nextPing : Clock::time_point::max();
        if (running_) {
            until = std::min(until, nextStatus);
        }
        if (until == Clock::time_point::max()) {
            wake_.wait(lock);  // until ready() or the end
        } else {
            wake_.wait_until(lock, until);
        }
    }
}

// Under mutex_. WATCHDOG=1 only if every I/O loop turned since the previous check.
void Notifier::pingWatchdog() {
    const auto beats = reporter_.heartbeats();
    std::string stuck;
    for (std::size_t i = 0; i < beats.size(); ++i) {
        if (i < lastBeats_.size() && beats[i] == lastBeats_[i]) {
            stuck += (stuck.empty() ? "io-" : ", io-") + std::to_string(i);
        }
    }
    lastBeats_ = beats;
    if (stuck.empty()) {
        socket_->send("WATCHDOG=1");
        if (holding_) {
            logger().information("watchdog: every I/O loop turns again; pings resumed");
        }
        holding_ = false;
        return;
    }
    if (!holding_) {
        logger().warning(
            "watchdog: I/O loop %s has not turned for %s ms (a plugin callback that does not return?); "
            "no WATCHDOG=1 until it does, so the service manager will restart the host",
            stuck, std::to_string(watchdog_->count() / 2000));
    }
    holding_ = true;
}

// ---- socket activation -------------------------------------------------------

std::vector<PassedSocket> passedSocketsFromEnvironment() {
    constexpr int kFirst = 3;  // SD_LISTEN_FDS_START
    const auto pid = takeEnvironment("LISTEN_PID");
    const auto count = takeEnvironment("LISTEN_FDS");
    const auto names = takeEnvironment("LISTEN_FDNAMES");
    std::vector<PassedSocket> passed;
    if (!pid || !count) {
        return passed;
    }
    const auto forPid = parseUnsigned(*pid);
    if (!forPid || *forPid != static_cast<unsigned long long>(::getpid())) {
        return passed;  // meant for another process (sd_listen_fds does the same)
    }
    const auto n = parseUnsigned(*count);
    if (!n || *n > 4096) {
        logger().warning("LISTEN_FDS=%s ignored: not a count of descriptors", *count);
        return passed;
    }
    std::vector<std::string> fdNames;
    if (names) {
        std::string::size_type start = 0;
        for (;;) {
            const auto colon = names->find(':', start);
            fdNames.push_back(names->substr(start, colon == std::string::npos ? colon : colon - start));
            if (colon == std::string::npos) {
                break;
            }
            start = colon + 1;
        }
    }
    for (int i = 0; i < static_cast<int>(*n); ++i) {
        const int fd = kFirst + i;
        const std::string name = static_cast<std::size_t>(i) < fdNames.size() ? fdNames[i] : "";
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags < 0) {
            logger().warning("socket activation: descriptor %d (%s) is not open", fd, name);
            continue;
        }
        ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        int type = 0;
        int listening = 0;
        socklen_t size = sizeof type;
        const bool stream = ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 && type == SOCK_STREAM;
        size = sizeof listening;
        const bool accepting =
            stream && ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 && listening != 0;
        sockaddr_storage address{};
        size = sizeof address;
        const bool inet = accepting && ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0 &&
                          (address.ss_family == AF_INET || address.ss_family == AF_INET6);
        if (!inet) {
            logger().warning(
                "socket activation: descriptor %d (%s) is not a listening TCP socket; closed "
                "(ListenStream= with an IP address or port is what plughost serves)",
                fd, name);
            ::close(fd);
            continue;
        }
        passed.push_back({fd, name});
    }
    return passed;
}

// ---- the runtime folder ------------------------------------------------------

void prepareRuntimeFolder(const std::string& path, const std::string& user, const std::string& group) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0) {
        if (!S_ISDIR(info.st_mode)) {
            throw std::runtime_error("the admin socket's folder " + path + " is not a folder");
        }
        if ((info.st_mode & S_IWOTH) != 0 && (info.st_mode & S_ISVTX) == 0) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
            throw std::runtime_error("the admin socket's folder " + path +
                                     " is writable by others and not sticky (mode " + mode +
                                     "): anyone could replace the socket (chmod o-w " + path + ")");
        }
        return;  // an existing folder keeps its owner and mode
    }
    if (errno != ENOENT) {
        throw std::runtime_error("cannot examine the admin socket's folder " + path + ": " +
                                 std::strerror(errno));
    }
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (!user.empty()) {
        const passwd* account = ::getpwnam(user.c_str());
        if (account == nullptr) {
            throw std::runtime_error("cannot create the admin socket's folder " + path + " for user " + user +
                                     ": no such user");
        }
        uid = account->pw_uid;
        gid = account->pw_gid;
        if (!group.empty()) {
            const struct group* named = ::getgrnam(group.c_str());
            if (named == nullptr) {
                throw std::runtime_error("cannot create the admin socket's folder " + path +
                                         ": no such group " + group);
            }
            gid = named->gr_gid;
        }
    }
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
        throw std::runtime_error("cannot create the admin socket's folder " + path + ": " +
                                 std::strerror(errno));
    }
    // Made 0700 and opened to 0755 only once it has its owner, and through a
    // descriptor, so nothing else can be swapped in between.
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        throw std::runtime_error("cannot open the admin socket's folder " + path + ": " +
                                 std::strerror(errno));
    }
    const bool owned = user.empty() || ::fchown(fd, uid, gid) == 0;
    const int chownError = errno;
    const bool moded = owned && ::fchmod(fd, 0755) == 0;
    ::close(fd);
    if (!owned) {
        throw std::runtime_error("cannot give the admin socket's folder " + path + " to user " + user + ": " +
                                 std::strerror(chownError));
    }
    if (!moded) {
        throw std::runtime_error("cannot set the mode of the admin socket's folder " + path);
    }
    logger().information("created the admin socket's folder %s (mode 0755%s)", path,
                         user.empty() ? std::string() : ", owner " + user);
}

}  // namespace plughost::system
