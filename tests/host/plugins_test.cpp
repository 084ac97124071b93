// Plugin discovery: real libraries built to fail in each way the loader must survive.
#include "plugins/plugins.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "support/host_process.h"

namespace {

using plughost::plugins::Catalog;
using plughost::test::TempDir;

// A plugin folder holding copies of the named test plugins (and the real echo).
class PluginDir {
public:
    PluginDir() { ::chmod(dir_.path().c_str(), 0755); }  // a plugin folder nobody else may write to
    void add(const std::string& name) {
        const std::string from =
            (name == "echo" ? std::string(PLUGHOST_PLUGIN_DIR) : std::string(PLUGHOST_TEST_PLUGIN_DIR)) +
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
    EXPECT_EQ(echo.abi, plughost::plugins::hostAbi());
    EXPECT_EQ(echo.abi, "2.3");
    EXPECT_FALSE(echo.description.empty());
    std::string why;
    EXPECT_NE(catalog.find("echo", why), nullptr);
}

TEST(Plugins, AnotherMajorIsRefusedNamingFileAndBothVersionsAndNoPluginFunctionRuns) {
    plughost::test::ProbeMarker marker;
    PluginDir dir;
    dir.add("wrong_abi");
    const auto catalog = Catalog::scan(dir.path());
    const auto& entry = entryFor(catalog, "wrong_abi.so");
    EXPECT_FALSE(entry.loaded());
    EXPECT_EQ(entry.rejection,
              dir.path() +
                  "/wrong_abi.so: built against plugin ABI 3.0, but this host speaks ABI 2.3 "
                  "(too new); rebuild it against this SDK");
    std::string why;
    EXPECT_EQ(catalog.find("wrong_abi", why), nullptr);
    EXPECT_EQ(why, entry.rejection);  // a service naming it fails with the same reason
    EXPECT_EQ(marker.text(), "");     // create, destroy, on_data: none ran
}

TEST(Plugins, ANewerMinorIsRefusedAskingForANewerHost) {
    plughost::test::ProbeMarker marker;
    PluginDir dir;
    dir.add("newer_minor");
    const auto catalog = Catalog::scan(dir.path());
    EXPECT_EQ(entryFor(catalog, "newer_minor.so").rejection,
              dir.path() +
                  "/newer_minor.so: built against plugin ABI 2.99, but this host speaks ABI 2.3 (too new); "
                  "upgrade the host or rebuild the plugin against this SDK");
    EXPECT_EQ(marker.text(), "");
}

TEST(Plugins, APluginOfTheOldCxxAbiIsRefusedWithoutCallingIt) {
    plughost::test::ProbeMarker marker;
    PluginDir dir;
    dir.add("cxx_abi_1");
    const auto catalog = Catalog::scan(dir.path());
    EXPECT_EQ(entryFor(catalog, "cxx_abi_1.so").rejection,
              dir.path() +
                  "/cxx_abi_1.so: built against plughost 0.1's C++ plugin ABI 1, but this host speaks ABI "
                  "2.3 (too old); rebuild it against this SDK");
    EXPECT_EQ(marker.text(), "");
}

TEST(Plugins, AnOlderMinorLoadsWithTheEntriesItLacksAbsent) {
    PluginDir dir;
    dir.add("abi_probe_v20");
    dir.add("abi_probe_c");
    const auto catalog = Catalog::scan(dir.path());
    const auto& older = entryFor(catalog, "abi_probe_v20.so");
    ASSERT_TRUE(older.loaded()) << older.rejection;
    EXPECT_EQ(older.abi, "2.0");
    EXPECT_NE(older.library->api().on_data, nullptr);
    EXPECT_EQ(older.library->api().on_stopping, nullptr);  // beyond its table: never called
    const auto& current = entryFor(catalog, "abi_probe_c.so");
    ASSERT_TRUE(current.loaded()) << current.rejection;
    EXPECT_EQ(current.abi, "2.3");
    EXPECT_NE(current.library->api().on_stopping, nullptr);
}

TEST(Plugins, AnUnresolvedSymbolIsRefusedAtLoadNamingIt) {
    PluginDir dir;
    dir.add("unresolved");
    dir.add("echo");
    const auto catalog = Catalog::scan(dir.path());
    const auto& entry = entryFor(catalog, "unresolved.so");
    EXPECT_FALSE(entry.loaded());
    EXPECT_EQ(entry.rejection.rfind(dir.path() + "/unresolved.so: cannot load: ", 0), 0u) << entry.rejection;
    EXPECT_NE(entry.rejection.find("undefined symbol: plughost_test_function_nobody_defines"),
              std::string::npos)
        << entry.rejection;
    EXPECT_EQ(entry.rejection.find("/proc/self/fd"), std::string::npos)
        << entry.rejection;  // the real path only
    EXPECT_TRUE(entryFor(catalog, "echo.so").loaded());
}

TEST(Plugins, LibraryWithoutTheAbiSymbolIsRefused) {
    PluginDir dir;
    dir.add("no_entry");
    const auto catalog = Catalog::scan(dir.path());
    const auto& entry = entryFor(catalog, "no_entry.so");
    EXPECT_EQ(entry.rejection,
              dir.path() + "/no_entry.so: not a plughost plugin (it exports no plughost_abi)");
}

// Plugin names follow the service names' rule, in the same words (typed::nameProblem).
TEST(Plugins, PluginWithAnInvalidNameIsRefused) {
    PluginDir dir;
    dir.add("bad_name");
    const auto catalog = Catalog::scan(dir.path());
    EXPECT_EQ(
        entryFor(catalog, "bad_name.so").rejection,
        dir.path() +
            "/bad_name.so: 'bad name' is not a valid plugin name (1-64 letters, digits, '_', '-' or '.')");
}

// The private copy lives in an anonymous memory file, not in /tmp (or TMPDIR).
TEST(Plugins, LoadsFromAnAnonymousMemoryFileWithNothingInTmp) {
    PluginDir dir;
    dir.add("twin_a");
    const char* saved = std::getenv("TMPDIR");
    const std::string previous = saved ? saved : "";
    ::setenv("TMPDIR", "/nonexistent/tmp", 1);  // a copy through a temp folder would fail now
    const auto catalog = Catalog::scan(dir.path());
    saved ? ::setenv("TMPDIR", previous.c_str(), 1) : ::unsetenv("TMPDIR");
    ASSERT_TRUE(entryFor(catalog, "twin_a.so").loaded()) << entryFor(catalog, "twin_a.so").rejection;
    std::ifstream maps("/proc/self/maps");
    const std::string mapped((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
    EXPECT_NE(mapped.find("/memfd:plughost:twin_a.so"), std::string::npos);
    EXPECT_EQ(mapped.find(dir.path() + "/twin_a.so"), std::string::npos);  // the file itself is never mapped
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
