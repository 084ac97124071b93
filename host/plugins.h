#pragma once
// plugins: finds plugin libraries in a folder, checks their ABI, and keeps them loaded while in use.

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <Poco/SharedLibrary.h>
#include <plughost/plugin.h>

namespace plughost::plugins {

// Why a file is not a usable plugin; the message names the file.
class PluginError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One loaded plugin library. It is unloaded when the last holder lets go, so
// whoever runs plugin code (a service, its sessions) holds a shared_ptr.
class Library {
public:
    // Loads `path`, reads the entry point and checks the ABI before anything
    // else. Loads a private copy of the file, so a rebuilt plugin at the same
    // path loads as new code while the old one still serves. Throws PluginError.
    static std::shared_ptr<Library> open(const std::string& path);
    // The same, for bytes already read from `path`.
    static std::shared_ptr<Library> open(const std::string& path, const std::string& bytes);
    // The hash contentHash() would have for these bytes.
    static std::uint64_t hash(const std::string& bytes);
    ~Library();
    Library(const Library&) = delete;
    Library& operator=(const Library&) = delete;

    const PluginDescriptor& descriptor() const { return *descriptor_; }
    const std::string& path() const { return path_; }
    // A hash of the file's bytes when loaded: a rebuilt plugin has another one.
    std::uint64_t contentHash() const { return contentHash_; }

private:
    Library() = default;
    std::string path_;
    std::uint64_t contentHash_ = 0;
    Poco::SharedLibrary library_;
    const PluginDescriptor* descriptor_ = nullptr;
};

// What a scan found at one path.
struct Entry {
    std::string path;
    std::string name;         // empty when rejected before the descriptor was read
    std::string version;
    std::string description;
    std::uint32_t abi = 0;
    std::string rejection;    // empty = loaded
    std::shared_ptr<Library> library;
    bool loaded() const { return rejection.empty(); }
};

// The plugins of one folder, as found by one scan.
class Catalog {
public:
    // Examines every *.so in `dir` (sorted by file name). Never throws: every
    // problem becomes an Entry's rejection. A file whose bytes are unchanged
    // since `previous` keeps its already-loaded library instead of loading again.
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
