// The plugin author's guide cannot rot: its example plugin, CMake file and YAML
// are taken from docs/plugins.md, built out of tree against the installed SDK and served.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/client.h"
#include "support/host_process.h"

namespace {

using namespace plughost::test;

// The nth (0-based) fenced block of `language` in a Markdown text.
std::string block(const std::string& markdown, const std::string& language, int nth = 0) {
    const std::string fence = "```" + language + "\n";
    std::size_t start = markdown.find(fence);
    for (int i = 0; i < nth && start != std::string::npos; ++i) {
        start = markdown.find(fence, start + fence.size());
    }
    if (start == std::string::npos) {
        return "";
    }
    const auto end = markdown.find("```", start + fence.size());
    return markdown.substr(start + fence.size(), end - start - fence.size());
}

// Builds `file` with `cmake` out of tree against the SDK installed from this build; returns the .so's path.
std::string buildOutOfTree(const TempDir& dir, const std::string& file, const std::string& source,
                           const std::string& cmake) {
    const std::string project = dir.path() + "/" + file + ".project";
    std::filesystem::create_directories(project);
    std::ofstream(project + "/" + file) << source;
    std::ofstream(project + "/CMakeLists.txt") << cmake;
    const std::string log = project + "/build.log";
    const std::string prefix = dir.path() + "/prefix";
    EXPECT_EQ(std::system(("cmake --install " PLUGHOST_BINARY_DIR " --component sdk --prefix " + prefix +
                           " >" + log + " 2>&1 && cmake -S " + project + " -B " + project +
                           "/build -DCMAKE_PREFIX_PATH=" + prefix + " >>" + log + " 2>&1 && cmake --build " +
                           project + "/build >>" + log + " 2>&1")
                              .c_str()),
              0)
        << readFile(log);
    return project + "/build/" + file.substr(0, file.find('.')) + ".so";
}

// The transcript the guide shows for its greeter (settings: greeting: Howdy).
void expectTheGuidesConversation(std::uint16_t port) {
    Client client(port);
    EXPECT_EQ(client.line(), "Howdy! Who are you?");
    ASSERT_TRUE(client.send("Ada\nbye\n"));
    EXPECT_EQ(client.line(), "Howdy, Ada!");
    EXPECT_EQ(client.line(), "Goodbye.");
    EXPECT_TRUE(client.waitClosed());
}

TEST(Docs, PluginGuideExampleBuildsAndServes) {
    const std::string guide = readFile(PLUGHOST_SOURCE_DIR "/docs/plugins.md");
    const std::string source = block(guide, "cpp");
    const std::string cmake = block(guide, "cmake");
    const std::string yaml = block(guide, "yaml");
    ASSERT_FALSE(source.empty());
    ASSERT_FALSE(cmake.empty());
    ASSERT_FALSE(yaml.empty());
    EXPECT_LT(std::count(source.begin(), source.end(), '\n'), 40)
        << "the guide promises an example under 40 lines";

    TempDir dir;
    const std::string built = buildOutOfTree(dir, "greet.cpp", source, cmake);
    ASSERT_TRUE(std::filesystem::exists(built));

    const std::string plugins = dir.path() + "/plugins";
    std::filesystem::create_directories(plugins);
    std::filesystem::copy_file(built, plugins + "/greet.so");
    const std::string services =
        std::regex_replace(yaml, std::regex("127\\.0\\.0\\.1:[0-9]+"), "127.0.0.1:0");
    HostProcess host("plugin_dir: " + plugins + "\n" + services);
    ASSERT_TRUE(host.started()) << host.log();
    expectTheGuidesConversation(host.port("greeter"));
    EXPECT_TRUE(host.waitForLog("greeter 127.0.0.1:")) << host.log();

    const auto plugins_listing = runCtl({"plugins", "--socket", host.adminSocket()});
    EXPECT_TRUE(
        std::regex_search(plugins_listing.output, std::regex("greet +1\\.0\\.0 +2\\.3 +greeter .*loaded")))
        << plugins_listing.output;
}

// The guide's C plugin: C11 against abi.h alone, a C-only CMake project, the same greeter.
TEST(Docs, PluginGuideCExampleBuildsAndServes) {
    const std::string guide = readFile(PLUGHOST_SOURCE_DIR "/docs/plugins.md");
    const std::string source = block(guide, "c");
    const std::string cmake = block(guide, "cmake", 1);
    ASSERT_NE(source.find("#include <plughost/abi.h>"), std::string::npos);
    ASSERT_NE(cmake.find("LANGUAGES C)"), std::string::npos) << cmake;

    TempDir dir;
    const std::string built = buildOutOfTree(dir, "greet_c.c", source, cmake);
    ASSERT_TRUE(std::filesystem::exists(built));
    EXPECT_EQ(capture("readelf -d " + built + " | grep -c 'libstdc++'"), "0\n");

    const std::string plugins = dir.path() + "/plugins";
    std::filesystem::create_directories(plugins);
    std::filesystem::copy_file(built, plugins + "/greet_c.so");
    HostProcess host("plugin_dir: " + plugins +
                     "\nservices:\n  greeter:\n    plugin: greet_c\n    listen: 127.0.0.1:0\n    settings:\n"
                     "      greeting: Howdy\n");
    ASSERT_TRUE(host.started()) << host.log();
    expectTheGuidesConversation(host.port("greeter"));
}

}  // namespace
