// GET /metrics from the real host, after real sessions: Prometheus' own linter
// (promtool, Debian's prometheus package) accepts it without a warning, the
// process metrics describe the host process, and the session duration histogram
// counts exactly the sessions that ended.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "admin/admin.h"
#include "sessions/sessions.h"
#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

// GET `path` on the admin socket (HTTP/1.0); the body, or "" on any failure.
std::string adminGet(const std::string& socketPath, const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socketPath.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return "";
    }
    const std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string reply;
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
        reply.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto body = reply.find("\r\n\r\n");
    return reply.rfind("HTTP/1.0 200", 0) == 0 && body != std::string::npos ? reply.substr(body + 4) : "";
}

// Every sample line as "name{labels}" → value.
std::map<std::string, double> samples(const std::string& metrics) {
    std::map<std::string, double> values;
    std::istringstream in(metrics);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const auto space = line.rfind(' ');
        values[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return values;
}

double wallClockSeconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Promtool {
    int exitCode;
    std::string output;
};

// The real `promtool check metrics`, reading the exposition on stdin.
Promtool promtoolCheck(const TempDir& dir, const std::string& metrics) {
    const std::string input = dir.write("metrics.txt", metrics);
    const std::string output = dir.path() + "/promtool.out";
    const int status = std::system(("promtool check metrics <" + input + " >" + output + " 2>&1").c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, readFile(output)};
}

const std::string kLabels = "service=\"echo\",plugin=\"echo\"";

TEST(MetricsText, DurationBucketsIncludeTheirBoundAndAreWrittenCumulatively) {
    using namespace std::chrono;
    plughost::sessions::DurationHistogram histogram;
    histogram.record(milliseconds(100));                    // on the bound: le="0.1"
    histogram.record(milliseconds(100) + microseconds(1));  // just above: le="1"
    histogram.record(seconds(7200));                        // above every bound: +Inf only
    EXPECT_EQ(histogram.buckets[0].load(), 1u);
    EXPECT_EQ(histogram.buckets[1].load(), 1u);
    EXPECT_EQ(histogram.buckets[histogram.kBoundsSeconds.size()].load(), 1u);
    EXPECT_EQ(histogram.sumMicroseconds.load(), 7'200'200'001u);

    plughost::HostStatus status;
    plughost::ServiceStatus service;
    service.name = "echo";
    service.plugin = "echo";
    for (const auto& bucket : histogram.buckets) {
        service.sessionDurationBuckets.push_back(bucket.load());
    }
    service.sessionDurationSeconds = 7200.200001;
    service.refused = {{"limit", 2}};
    status.services.push_back(service);
    const std::string text = plughost::admin::metricsText(status, plughost::admin::readProcessStats());
    auto values = samples(text);
    const std::string bucket = "plughost_session_duration_seconds_bucket{" + kLabels + ",le=";
    EXPECT_EQ(values[bucket + "\"0.1\"}"], 1);
    EXPECT_EQ(values[bucket + "\"1\"}"], 2);
    EXPECT_EQ(values[bucket + "\"3600\"}"], 2);
    EXPECT_EQ(values[bucket + "\"+Inf\"}"], 3);
    EXPECT_EQ(values["plughost_session_duration_seconds_count{" + kLabels + "}"], 3);
    EXPECT_DOUBLE_EQ(values["plughost_session_duration_seconds_sum{" + kLabels + "}"], 7200.200001);
    EXPECT_EQ(values["plughost_connections_refused_total{" + kLabels + ",reason=\"limit\"}"], 2);
    TempDir scratch;
    const Promtool lint = promtoolCheck(scratch, text);
    EXPECT_EQ(lint.exitCode, 0) << lint.output;
    EXPECT_EQ(lint.output, "") << text;
}

TEST(Metrics, PassPromtoolAndDescribeTheProcessAndTheSessionsThatEnded) {
    const double before = wallClockSeconds();
    HostProcess host(
        "services:\n  echo:\n    plugin: echo\n    listen: 127.0.0.1:0\n"
        "  confirm:\n    plugin: confirm\n    listen: [127.0.0.1:0, {address: 127.0.0.1:0, protocol: "
        "udp}]\n");
    ASSERT_TRUE(host.started()) << host.log();
    const double after = wallClockSeconds();
    const std::uint16_t port = host.port("echo");

    // A round trip proves the host holds the session (not just the kernel's backlog).
    auto roundTrip = [](Client& client) { return client.send("x") && client.readExactly(1) == "x"; };
    constexpr int kHeld = 3;   // open while the metrics are read
    constexpr int kQuick = 4;  // opened and closed at once
    std::vector<Client> held;
    for (int i = 0; i < kHeld; ++i) {
        held.emplace_back(port);
        ASSERT_TRUE(roundTrip(held.back()));
    }
    for (int i = 0; i < kQuick; ++i) {
        Client quick(port);
        ASSERT_TRUE(roundTrip(quick));
    }
    // One session that lasts at least `kLong` by the test's clock: the duration under
    // test, not a wait for something to happen.
    constexpr auto kLong = std::chrono::milliseconds(250);
    {
        Client slow(port);
        ASSERT_TRUE(roundTrip(slow));
        std::this_thread::sleep_for(kLong);
        ASSERT_TRUE(roundTrip(slow));
    }

    const std::string count = "plughost_session_duration_seconds_count{" + kLabels + "}";
    std::string metrics;
    ASSERT_TRUE(eventually([&] {
        metrics = adminGet(host.adminSocket(), "/metrics");
        const auto values = samples(metrics);
        return values.count(count) && values.at(count) == kQuick + 1;
    })) << metrics;

    TempDir scratch;
    const Promtool lint = promtoolCheck(scratch, metrics);
    EXPECT_EQ(lint.exitCode, 0) << lint.output << "\n" << metrics;
    EXPECT_EQ(lint.output, "") << metrics;

    auto values = samples(metrics);
    // Process metrics describe the host process.
    EXPECT_GE(values["process_open_fds"], kHeld + 2) << "the held sessions and the listeners are descriptors";
    EXPECT_GE(values["process_max_fds"], values["process_open_fds"]);
    EXPECT_GT(values["process_resident_memory_bytes"], 0);
    EXPECT_GE(values["process_virtual_memory_bytes"], values["process_resident_memory_bytes"]);
    EXPECT_GE(values["process_cpu_seconds_total"], 0);
    // /proc gives the start in clock ticks (10 ms); the exposition rounds to 10 ms too.
    EXPECT_GE(values["process_start_time_seconds"], before - 0.05) << std::fixed << before;
    EXPECT_LE(values["process_start_time_seconds"], after + 0.05) << std::fixed << after;
    EXPECT_EQ(values["plughost_connections{" + kLabels + "}"], kHeld);

    // The histogram counts the ended sessions only, cumulatively, and puts the long one above 0.1 s.
    const std::vector<std::string> bounds = {"0.1", "1", "10", "60", "600", "3600", "+Inf"};
    double previous = 0;
    for (const auto& bound : bounds) {
        const std::string bucket =
            "plughost_session_duration_seconds_bucket{" + kLabels + ",le=\"" + bound + "\"}";
        ASSERT_TRUE(values.count(bucket)) << bucket << "\n" << metrics;
        EXPECT_GE(values[bucket], previous) << bucket;
        previous = values[bucket];
    }
    EXPECT_EQ(previous, kQuick + 1);
    EXPECT_LE(values["plughost_session_duration_seconds_bucket{" + kLabels + ",le=\"0.1\"}"], kQuick);
    EXPECT_GE(values["plughost_session_duration_seconds_sum{" + kLabels + "}"],
              std::chrono::duration<double>(kLong).count());
    // A service with a UDP address has the UDP families (and promtool accepted them above).
    EXPECT_EQ(values.count("plughost_udp_datagrams_received_total{service=\"confirm\",plugin=\"confirm\"}"),
              1u)
        << metrics;
    EXPECT_EQ(values.count(
                  "plughost_udp_dropped_total{service=\"confirm\",plugin=\"confirm\",reason=\"low_port\"}"),
              1u)
        << metrics;
    EXPECT_EQ(values.count("plughost_udp_datagrams_received_total{" + kLabels + "}"), 0u);
    // A service with no ended session has the whole family at zero.
    EXPECT_EQ(values["plughost_session_duration_seconds_count{service=\"confirm\",plugin=\"confirm\"}"], 0);
    EXPECT_EQ(
        values
            ["plughost_session_duration_seconds_bucket{service=\"confirm\",plugin=\"confirm\",le=\"+Inf\"}"],
        0);

    // Closing the held sessions moves them into the histogram too.
    held.clear();
    EXPECT_TRUE(eventually(
        [&] { return samples(adminGet(host.adminSocket(), "/metrics"))[count] == kQuick + 1 + kHeld; }));
}

}  // namespace
