#pragma once
// plugins: finds plugin libraries in a folder, checks who could have written
// them (trust.h), loads them without trusting their contents (RTLD_NOW from a
// private in-memory copy), checks their C ABI (plughost/abi.h) before any of
// their functions runs, and keeps them loaded while in use.

#include <plughost/abi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace plughost::plugins {

// Why a file is not a usable plugin; the message names the file.
class PluginError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// "2.1": the ABI this host speaks.
std::string hostAbi();

// One loaded plugin library. It is unloaded when the last holder lets go, so
// whoever runs plugin code (a service, its sessions) holds a shared_ptr.
class Library {
public:
    // Opens `path` once and checks ownership and modes on that descriptor
    // (trust.h; the folders above it are the caller's to check), then returns
    // the bytes read from that same descriptor, so what is checked is what
    // loads. Throws PluginError naming `path`.
    static std::string readTrusted(const std::string& path);
    // Loads `bytes` (read from `path`) from an anonymous memory file with every
    // symbol resolved (an unresolved one is refused, naming it); reads the
    // exported ABI version — data, so no plugin function has run — and refuses
    // another major or a newer minor; then checks the table. A rebuilt plugin
    // at the same path loads as new code while the old one still serves.
    // Throws PluginError naming `path`.
    static std::shared_ptr<Library> load(const std::string& path, const std::string& bytes);
    // The hash contentHash() has for these bytes.
    static std::uint64_t hash(const std::string& bytes);
    ~Library();
    Library(const Library&) = delete;
    Library& operator=(const Library&) = delete;

    // The plugin's table as this host's build lays it out: entries beyond the
    // plugin's own table size (an older minor) are null.
    plughost_plugin_api api() const;
    const std::string& path() const { return path_; }
    std::string name() const { return api_->name; }
    std::string version() const { return api_->version; }
    std::string description() const { return api_->description; }
    // "2.0", "2.1": the ABI the plugin was built against.
    std::string abi() const;
    // A hash of the file's bytes when loaded: a rebuilt plugin has another one.
    std::uint64_t contentHash() const { return contentHash_; }

private:
    Library() = default;
    std::string path_;
    std::uint64_t contentHash_ = 0;
    void* handle_ = nullptr;
    int memoryFile_ = -1;
    std::string loadedAs_;  // "/proc/PID/fd/N"
    plughost_abi_version abi_{};
    const plughost_plugin_api* api_ = nullptr;
};

// What a scan found at one path.
struct Entry {
    std::string path;
    std::string name;  // empty when rejected before the table was read
    std::string version;
    std::string description;
    std::string abi;        // "2.1"; empty when rejected before it was read
    std::string rejection;  // empty = loaded
    std::shared_ptr<Library> library;
    bool loaded() const { return rejection.empty(); }
};

// The plugins of one folder, as found by one scan.
class Catalog {
public:
    // Examines every *.so in `dir` (sorted by file name). Never throws: every
    // problem becomes an Entry's rejection (a folder that fails the trust rule
    // rejects each of its plugins with that reason). A file whose bytes are
    // unchanged since `previous` keeps its already-loaded library.
    static Catalog scan(const std::string& dir, const Catalog* previous = nullptr);

    const std::string& dir() const { return dir_; }
    const std::vector<Entry>& entries() const { return entries_; }
    // The loaded library for a plugin name, or null with `why` saying why not.
    std::shared_ptr<Library> find(const std::string& name, std::string& why) const;

private:
    std::shared_ptr<Library> reusable(const std::string& path, std::uint64_t contentHash) const;

    std::string dir_;
    std::string dirProblem_;
    std::vector<Entry> entries_;
};

}  // namespace plughost::plugins
