// The ownership and mode rule for plugins (host/plugins/trust.h), on real folders and
// files: who could have written the code decides whether the host runs it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "plugins/plugins.h"
#include "support/client.h"
#include "support/host_process.h"

namespace {

using plughost::plugins::Catalog;
using plughost::plugins::Entry;
using plughost::test::HostProcess;
using plughost::test::runCtl;
using plughost::test::TempDir;

constexpr uid_t kNobody = 65534;

std::string echoPath() { return std::string(PLUGHOST_PLUGIN_DIR) + "/echo.so"; }

// base/<name>/echo.so, with the folder's and the file's modes as given.
std::string pluginFolder(const TempDir& base, const std::string& name, mode_t folderMode,
                         mode_t fileMode = 0755) {
    const std::string folder = base.path() + "/" + name;
    std::filesystem::create_directories(folder);
    std::filesystem::copy_file(echoPath(), folder + "/echo.so");
    ::chmod((folder + "/echo.so").c_str(), fileMode);
    ::chmod(folder.c_str(), folderMode);
    return folder;
}

const Entry& onlyEntry(const Catalog& catalog) {
    EXPECT_EQ(catalog.entries().size(), 1u);
    return catalog.entries().at(0);
}

TEST(Trust, APluginFolderOthersCanWriteToRejectsItsPlugins) {
    TempDir base;
    const std::string folder = pluginFolder(base, "plugins", 0777);
    const auto catalog = Catalog::scan(folder);
    const auto& entry = onlyEntry(catalog);
    EXPECT_FALSE(entry.loaded());
    EXPECT_EQ(entry.rejection,
              folder + "/echo.so: rejected: plugin folder " + folder +
                  " is writable by group and others (mode 0777): anyone who can write there could "
                  "change the code the host runs (chmod go-w " +
                  folder + ")");
}

TEST(Trust, TheStickyBitDoesNotExcuseAWritablePluginFolder) {
    TempDir base;
    const std::string folder = pluginFolder(base, "plugins", 01777);  // others could still add a plugin
    const auto catalog = Catalog::scan(folder);
    const auto& entry = onlyEntry(catalog);
    EXPECT_NE(
        entry.rejection.find("plugin folder " + folder + " is writable by group and others (mode 1777)"),
        std::string::npos)
        << entry.rejection;
}

TEST(Trust, AGroupWritableFolderAboveRejects) {
    TempDir base;
    const std::string parent = base.path() + "/shared";
    std::filesystem::create_directories(parent);
    const std::string folder = pluginFolder(base, "shared/plugins", 0755);
    ::chmod(parent.c_str(), 0775);
    const auto catalog = Catalog::scan(folder);
    const auto& entry = onlyEntry(catalog);
    EXPECT_NE(entry.rejection.find("folder " + parent + " is writable by its group (mode 0775)"),
              std::string::npos)
        << entry.rejection;
}

TEST(Trust, AStickyFolderAboveIsAcceptedLikeTmp) {
    TempDir base;  // itself 1777, inside /tmp (1777)
    const std::string folder = pluginFolder(base, "plugins", 0755);
    const auto catalog = Catalog::scan(folder);
    const auto& entry = onlyEntry(catalog);
    EXPECT_TRUE(entry.loaded()) << entry.rejection;
}

TEST(Trust, APluginFileOthersCanWriteIsRejected) {
    TempDir base;
    const std::string folder = pluginFolder(base, "plugins", 0755, 0666);
    const auto catalog = Catalog::scan(folder);
    const auto& entry = onlyEntry(catalog);
    EXPECT_EQ(entry.rejection,
              folder + "/echo.so: rejected: plugin " + folder +
                  "/echo.so is writable by group and others (mode 0666): anyone who can write there "
                  "could change the code the host runs (chmod go-w " +
                  folder + "/echo.so)");
}

TEST(Trust, APluginFileOfAnotherUserIsRejected) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to give a file away";
    }
    TempDir base;
    const std::string folder = pluginFolder(base, "plugins", 0755);
    ASSERT_EQ(::chown((folder + "/echo.so").c_str(), kNobody, 0), 0);
    const auto catalog = Catalog::scan(folder);
    const auto& entry = onlyEntry(catalog);
    EXPECT_EQ(entry.rejection,
              folder + "/echo.so: rejected: plugin " + folder +
                  "/echo.so belongs to nobody (uid 65534), but it must belong to root: anyone else "
                  "who owns it could change the code the host runs");
}

TEST(Trust, AFolderOfAnotherUserAboveIsRejected) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to give a folder away";
    }
    TempDir base;
    const std::string parent = base.path() + "/home";
    std::filesystem::create_directories(parent);
    const std::string folder = pluginFolder(base, "home/plugins", 0755);
    ASSERT_EQ(::chown(parent.c_str(), kNobody, 0),
              0);  // nobody could rename plugins/ and put another in its place
    const auto catalog = Catalog::scan(folder);
    const auto& entry = onlyEntry(catalog);
    EXPECT_NE(entry.rejection.find("folder " + parent + " belongs to nobody (uid 65534)"), std::string::npos)
        << entry.rejection;
}

TEST(Trust, ALinkIsJudgedByTheFileItLeadsTo) {
    TempDir base;
    const std::string trusted = pluginFolder(base, "plugins", 0755);
    const std::string open = pluginFolder(base, "open", 0777);
    const std::string folder = base.path() + "/links";
    std::filesystem::create_directories(folder);
    ::chmod(folder.c_str(), 0755);
    std::filesystem::create_symlink(trusted + "/echo.so", folder + "/good.so");
    std::filesystem::create_symlink(open + "/echo.so", folder + "/bad.so");
    const auto catalog = Catalog::scan(folder);
    ASSERT_EQ(catalog.entries().size(), 2u);
    const auto& bad = catalog.entries()[0];  // sorted by path: bad.so, good.so
    const auto& good = catalog.entries()[1];
    EXPECT_TRUE(good.loaded()) << good.rejection;
    EXPECT_EQ(bad.rejection.rfind(folder + "/bad.so: rejected: it leads to " + open +
                                      "/echo.so, and plugin folder " + open + " is writable",
                                  0),
              0u)
        << bad.rejection;
}

// Through the daemon: the service fails with the reason, the others serve, and
// `plughostctl plugins` says why the file was rejected.
TEST(Trust, TheHostRefusesAPluginFromAnOpenFolderAndSaysWhy) {
    TempDir base;
    const std::string folder = pluginFolder(base, "plugins", 0777);
    HostProcess host("plugin_dir: " + folder +
                     "\nservices:\n  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n");
    EXPECT_FALSE(host.started());
    EXPECT_NE(host.log().find("service e: failed: " + folder + "/echo.so: rejected: plugin folder " + folder +
                              " is writable by group and others (mode 0777)"),
              std::string::npos)
        << host.log();
}

TEST(Trust, PluginsListingSaysWhyAFileWasRejected) {
    TempDir base;
    const std::string folder = pluginFolder(base, "plugins", 0755);
    std::filesystem::copy_file(echoPath(), folder + "/loose.so");
    ::chmod((folder + "/loose.so").c_str(), 0646);
    HostProcess host("plugin_dir: " + folder +
                     "\nservices:\n  e:\n    plugin: echo\n    listen: 127.0.0.1:0\n");
    ASSERT_TRUE(host.started()) << host.log();
    plughost::test::Client client(host.port("e"));
    ASSERT_TRUE(client.send("still serving\n"));
    EXPECT_EQ(client.line(), "still serving");
    const auto listing = runCtl({"plugins", "--socket", host.adminSocket()});
    EXPECT_NE(listing.output.find("rejected: " + folder + "/loose.so: rejected: plugin " + folder +
                                  "/loose.so is writable by others (mode 0646)"),
              std::string::npos)
        << listing.output;
}

}  // namespace
