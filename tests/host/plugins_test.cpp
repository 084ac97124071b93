// Plugin discovery: real libraries built to fail in each way the loader must survive.
#include <filesystem>

#include <gtest/gtest.h>

#include "plugins.h"
#include "support/host_process.h"

namespace {

using plughost::plugins::Catalog;
using plughost::test::TempDir;

// A plugin folder holding copies of the named test plugins (and the real echo).
class PluginDir {
public:
    void add(const std::string& name) {
        const std::string from = (name == "echo" ? std::string(PLUGHOST_PLUGIN_DIR) : std::string(PLUGHOST_TEST_PLUGIN_DIR)) +
                                 "/" + name + ".so";
        std::filesystem::copy_file(from, dir_.path() + "/" + name + ".so");
    }
    const std::string& path() const { return dir_.path(); }
    const TempDir& dir() const { return dir_; }

private:
    TempDir dir_;
};

const plughost::plugins::Entry& entryFor(const Catalog& catalog, const std::string& file) {
    for (const auto& entry : catalog.entries()) {
        if (std::filesystem::path(entry.path).filename() == file) {
            return entry;
        }
    }
    throw std::runtime_error("no entry for " + file);
}

TEST(Plugins, LoadsAGoodPluginAndReadsItsDescriptor) {
    PluginDir dir;
    dir.add("echo");
    const auto catalog = Catalog::scan(dir.path());
    ASSERT_EQ(catalog.entries().size(), 1u);
    const auto& echo = catalog.entries()[0];
    EXPECT_TRUE(echo.loaded()) << echo.rejection;
    EXPECT_EQ(echo.name, "echo");
    EXPECT_EQ(echo.version, "1.0.0");
    EXPECT_EQ(echo.abi, plughost::kAbiVersion);
    EXPECT_FALSE(echo.description.empty());
    std::string why;
    EXPECT_NE(catalog.find("echo", why), nullptr);
}

TEST(Plugins, WrongAbiIsRefusedNamingFileAndBothVersions) {
    PluginDir dir;
    dir.add("wrong_abi");
    const auto catalog = Catalog::scan(dir.path());
    const auto& entry = entryFor(catalog, "wrong_abi.so");
    EXPECT_FALSE(entry.loaded());
    EXPECT_EQ(entry.rejection, dir.path() + "/wrong_abi.so: built against plugin ABI " +
                                   std::to_string(plughost::kAbiVersion + 1) + ", but this host speaks ABI " +
                                   std::to_string(plughost::kAbiVersion) + " (too new); rebuild it against this SDK");
    std::string why;
    EXPECT_EQ(catalog.find("wrong_abi", why), nullptr);
    EXPECT_EQ(why, entry.rejection);  // a service naming it fails with the same reason
}

TEST(Plugins, LibraryWithoutEntryPointIsRefused) {
    PluginDir dir;
    dir.add("no_entry");
    const auto catalog = Catalog::scan(dir.path());
    const auto& entry = entryFor(catalog, "no_entry.so");
    EXPECT_EQ(entry.rejection, dir.path() + "/no_entry.so: not a plughost plugin (no plughost_plugin_entry entry point)");
}

TEST(Plugins, TextFileNamedSoIsRefused) {
    PluginDir dir;
    dir.dir().write("x.so", "this is not a library\n");
    const auto catalog = Catalog::scan(dir.path());
    const auto& entry = entryFor(catalog, "x.so");
    EXPECT_EQ(entry.rejection, dir.path() + "/x.so: not a shared library (no ELF header)");
}

TEST(Plugins, TruncatedLibraryIsRefused) {
    PluginDir dir;
    dir.add("echo");
    std::filesystem::resize_file(dir.path() + "/echo.so", 200);  // a half-written copy
    const auto catalog = Catalog::scan(dir.path());
    const auto& entry = entryFor(catalog, "echo.so");
    EXPECT_EQ(entry.rejection, dir.path() + "/echo.so: cannot load: cannot read file data");
}

TEST(Plugins, TwoPluginsWithOneNameNameBothFiles) {
    PluginDir dir;
    dir.add("twin_a");
    dir.add("twin_b");
    dir.add("echo");
    const auto catalog = Catalog::scan(dir.path());
    const std::string expected =
        "plugin name 'twin' is claimed by both " + dir.path() + "/twin_a.so and " + dir.path() + "/twin_b.so";
    EXPECT_EQ(entryFor(catalog, "twin_a.so").rejection, expected);
    EXPECT_EQ(entryFor(catalog, "twin_b.so").rejection, expected);
    std::string why;
    EXPECT_EQ(catalog.find("twin", why), nullptr);
    EXPECT_EQ(why, expected);
    EXPECT_NE(catalog.find("echo", why), nullptr);  // the others still load
}

TEST(Plugins, UnknownNameListsWhatIsAvailable) {
    PluginDir dir;
    dir.add("echo");
    dir.add("probe");
    std::string why;
    EXPECT_EQ(Catalog::scan(dir.path()).find("ehco", why), nullptr);
    EXPECT_EQ(why, "no plugin named 'ehco' in " + dir.path() + " (available: echo, probe)");
}

TEST(Plugins, MissingFolderIsReported) {
    std::string why;
    EXPECT_EQ(Catalog::scan("/nonexistent/plugins").find("echo", why), nullptr);
    EXPECT_NE(why.find("cannot read the plugin folder /nonexistent/plugins"), std::string::npos) << why;
}

TEST(Plugins, ARebuiltFileLoadsAsNewCodeWhileTheOldStaysLoaded) {
    PluginDir dir;
    std::filesystem::copy_file(std::string(PLUGHOST_TEST_PLUGIN_DIR) + "/twin_a.so", dir.path() + "/twin.so");
    const auto first = Catalog::scan(dir.path());
    std::filesystem::remove(dir.path() + "/twin.so");
    std::filesystem::copy_file(std::string(PLUGHOST_TEST_PLUGIN_DIR) + "/twin_b.so", dir.path() + "/twin.so");
    const auto second = Catalog::scan(dir.path());
    ASSERT_TRUE(first.entries()[0].loaded());
    ASSERT_TRUE(second.entries()[0].loaded());
    EXPECT_EQ(first.entries()[0].version, "1.0.0");
    EXPECT_EQ(second.entries()[0].version, "1.0.1");
    EXPECT_NE(first.entries()[0].library->contentHash(), second.entries()[0].library->contentHash());
}

}  // namespace
