// The plugin author's guide cannot rot: its example plugin, CMake file and YAML
// are taken from docs/plugins.md, built out of tree against the installed SDK and served.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

// The first fenced block of `language` in a Markdown text.
std::string block(const std::string& markdown, const std::string& language) {
    const std::string fence = "```" + language + "\n";
    const auto start = markdown.find(fence);
    if (start == std::string::npos) {
        return "";
    }
    const auto end = markdown.find("```", start + fence.size());
    return markdown.substr(start + fence.size(), end - start - fence.size());
}

TEST(Docs, PluginGuideExampleBuildsAndServes) {
    const std::string guide = readFile(PLUGHOST_SOURCE_DIR "/docs/plugins.md");
    const std::string source = block(guide, "cpp");
    const std::string cmake = block(guide, "cmake");
    const std::string yaml = block(guide, "yaml");
    ASSERT_FALSE(source.empty());
    ASSERT_FALSE(cmake.empty());
    ASSERT_FALSE(yaml.empty());
    EXPECT_LT(std::count(source.begin(), source.end(), '\n'), 40) << "the guide promises an example under 40 lines";

    TempDir dir;
    dir.write("greet.cpp", source);
    dir.write("CMakeLists.txt", cmake);
    const std::string log = dir.path() + "/build.log";
    const std::string prefix = dir.path() + "/prefix";
    ASSERT_EQ(std::system(("cmake --install " PLUGHOST_BINARY_DIR " --component sdk --prefix " + prefix + " >" + log + " 2>&1").c_str()), 0)
        << readFile(log);
    ASSERT_EQ(std::system(("cmake -S " + dir.path() + " -B " + dir.path() + "/build -DCMAKE_PREFIX_PATH=" + prefix + " >>" + log +
                           " 2>&1 && cmake --build " + dir.path() + "/build >>" + log + " 2>&1")
                              .c_str()),
              0)
        << readFile(log);

    const std::string plugins = dir.path() + "/plugins";
    std::filesystem::create_directories(plugins);
    std::filesystem::copy_file(dir.path() + "/build/greet.so", plugins + "/greet.so");
    const std::string services = std::regex_replace(yaml, std::regex("127\\.0\\.0\\.1:[0-9]+"), "127.0.0.1:0");
    HostProcess host("plugin_dir: " + plugins + "\n" + services);
    ASSERT_TRUE(host.started()) << host.log();
    Client client(host.port("greeter"));
    EXPECT_EQ(client.line(), "Howdy! Who are you?");
    ASSERT_TRUE(client.send("Ada\nbye\n"));
    EXPECT_EQ(client.line(), "Howdy, Ada!");
    EXPECT_EQ(client.line(), "Goodbye.");
    EXPECT_TRUE(client.waitClosed());
    EXPECT_TRUE(host.waitForLog("greeter 127.0.0.1:")) << host.log();

    const auto plugins_listing = runCtl({"plugins", "--socket", host.adminSocket()});
    EXPECT_TRUE(std::regex_search(plugins_listing.output, std::regex("greet +1\\.0\\.0 +2\\.1 +greeter .*loaded"))) << plugins_listing.output;
}

}  // namespace
