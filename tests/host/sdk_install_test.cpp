// A third party's view: install the SDK, build a plugin out of tree with
// find_package(plughost), drop it into a plugin folder and serve it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

// Runs a shell command, its output into `log`; returns its exit status.
int run(const std::string& command, const std::string& log) {
    return std::system((command + " >>" + log + " 2>&1").c_str());
}

TEST(SdkInstall, OutOfTreePluginBuildsAgainstTheInstalledSdkAndServes) {
    TempDir dir;
    const std::string prefix = dir.path() + "/prefix";
    const std::string build = dir.path() + "/build";
    const std::string log = dir.path() + "/build.log";
    ASSERT_EQ(run("cmake --install " PLUGHOST_BINARY_DIR " --component sdk --prefix " + prefix, log), 0)
        << readFile(log);

    // The SDK is a few headers that need nothing but a compiler: no Poco, no host internals.
    const std::string include = prefix + "/include/plughost";
    ASSERT_TRUE(std::filesystem::exists(include + "/plugin.h"));
    for (const auto& header : std::filesystem::directory_iterator(include)) {
        const std::string text = readFile(header.path());
        EXPECT_EQ(text.find("Poco"), std::string::npos) << header.path();
        EXPECT_EQ(text.find("yaml"), std::string::npos) << header.path();
    }

    ASSERT_EQ(run("cmake -S " OUT_OF_TREE_DIR " -B " + build + " -DCMAKE_PREFIX_PATH=" + prefix, log), 0)
        << readFile(log);
    ASSERT_EQ(run("cmake --build " + build, log), 0) << readFile(log);
    ASSERT_TRUE(std::filesystem::exists(build + "/shout.so")) << readFile(log);

    // Only the two data symbols of abi.h are exported: no function, no C++ object.
    EXPECT_EQ(capture("nm -D --defined-only " + build + "/shout.so | awk '{print $2, $3}'"),
              "R plughost_abi\nD plughost_plugin\n");

    const std::string plugins = dir.path() + "/plugins";
    std::filesystem::create_directories(plugins);
    std::filesystem::copy_file(build + "/shout.so", plugins + "/shout.so");
    HostProcess host("plugin_dir: " + plugins +
                     "\nservices:\n  loud:\n    plugin: shout\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    EXPECT_TRUE(host.waitForLog("service loud: plugin shout 0.1.0 listening on")) << host.log();
    Client client(host.port("loud"));
    ASSERT_TRUE(client.send("hello out there\n"));
    EXPECT_EQ(client.line(), "HELLO OUT THERE");
}

}  // namespace
