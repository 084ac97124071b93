#include "plugins/plugins.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <utility>

#include "config/typed.h"
#include "plugins/trust.h"

namespace plughost::plugins {

namespace {

// The smallest table any 2.x plugin has: everything up to on_close (ABI 2.0).
constexpr std::size_t kMinimumTableSize = offsetof(plughost_plugin_api, on_close) + sizeof(void*);
// The entry point of plughost 0.1's C++-only ABI (major 1), recognised to say "rebuild".
constexpr const char* kOldEntryPoint = "plughost_plugin_entry";

std::string versionText(std::uint32_t major, std::uint32_t minor) {
    return std::to_string(major) + "." + std::to_string(minor);
}

class Descriptor {
public:
    explicit Descriptor(int fd) : fd_(fd) {}
    ~Descriptor() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// An anonymous memory file holding `bytes`: dlopen() of /proc/PID/fd/N then
// loads a private copy no other user can touch, with nothing written to /tmp
// (which may be noexec, or shared with other users).
int memoryFileWith(const std::string& path, const std::string& bytes) {
    const std::string label = "plughost:" + std::filesystem::path(path).filename().string();
    int fd = static_cast<int>(::syscall(SYS_memfd_create, label.c_str(), MFD_CLOEXEC));
    if (fd < 0) {
        throw PluginError(path + ": cannot create an in-memory copy: " + std::strerror(errno));
    }
    Descriptor owned(fd);
    std::size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            throw PluginError(path + ": cannot write the in-memory copy: " + std::strerror(errno));
        }
        written += static_cast<std::size_t>(n);
    }
    return owned.release();
}

// dlopen() finds an already-loaded library by its name before anything else.
// A library that dlclose() could not unload (C++ code with STB_GNU_UNIQUE
// symbols stays) keeps its "/proc/PID/fd/N" name, so its descriptor is kept
// open for good: no later copy can be given the same N and be mistaken for it.
void retireMemoryFile(int fd, const std::string& loadedAs) {
    static std::mutex mutex;
    static std::vector<int> pinned;
    if (void* still = ::dlopen(loadedAs.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
        ::dlclose(still);
        std::lock_guard<std::mutex> lock(mutex);
        pinned.push_back(fd);
        return;
    }
    ::close(fd);
}

}  // namespace

std::string hostAbi() { return versionText(PLUGHOST_ABI_MAJOR, PLUGHOST_ABI_MINOR); }

std::uint64_t Library::hash(const std::string& bytes) {
    std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a: cheap, and only compared with itself
    for (unsigned char byte : bytes) {
        hash = (hash ^ byte) * 1099511628211ULL;
    }
    return hash;
}

std::string Library::readTrusted(const std::string& path) {
    Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) {
        throw PluginError(path + ": cannot open: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        throw PluginError(path + ": cannot examine: " + std::strerror(errno));
    }
    // A symbolic link is judged by the file it leads to, and by that file's folders.
    std::error_code error;
    const auto real = std::filesystem::canonical("/proc/self/fd/" + std::to_string(fd.get()), error);
    if (!error && real.string() != path) {
        const std::string folders = trust::checkFolders(real.parent_path().string(), ::geteuid());
        if (!folders.empty()) {
            throw PluginError(path + ": rejected: it leads to " + real.string() + ", and " + folders);
        }
    }
    const std::string problem = trust::checkFile(error ? path : real.string(), st, ::geteuid());
    if (!problem.empty()) {
        throw PluginError(path + ": rejected: " + problem);
    }
    std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n =
            ::pread(fd.get(), bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            throw PluginError(path + ": cannot read the file: " + std::strerror(errno));
        }
        if (n == 0) {
            bytes.resize(done);  // it shrank while we read: load what is there (the ELF checks judge it)
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    return bytes;
}

std::shared_ptr<Library> Library::load(const std::string& path, const std::string& bytes) {
    if (bytes.size() < 4 || bytes.compare(0, 4,
                                          "\x7f"
                                          "ELF") != 0) {
        throw PluginError(path + ": not a shared library (no ELF header)");
    }
    std::shared_ptr<Library> library(new Library());  // private constructor: make_shared cannot reach it
    library->path_ = path;
    library->contentHash_ = hash(bytes);
    library->memoryFile_ = memoryFileWith(path, bytes);
    // /proc/PID/fd/N rather than /proc/self/fd/N: the name lands in the link map,
    // and tools in other processes (a sanitizer's symbolizer, gdb, perf) can then
    // open it to find the plugin's symbols.
    library->loadedAs_ =
        "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(library->memoryFile_);

    // RTLD_NOW: a symbol the plugin needs but nobody provides is a refusal now,
    // not a "symbol lookup error" that kills the daemon at the first call.
    // RTLD_LOCAL: its symbols do not leak into other plugins.
    library->handle_ = ::dlopen(library->loadedAs_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library->handle_ == nullptr) {
        // dlerror() names the private copy; the operator knows the file by its real path.
        std::string detail = ::dlerror();
        const std::string prefix = library->loadedAs_ + ": ";
        if (detail.compare(0, prefix.size(), prefix) == 0) {
            detail.erase(0, prefix.size());
        }
        throw PluginError(path + ": cannot load: " + detail);
    }

    const auto* abi = static_cast<const plughost_abi_version*>(::dlsym(library->handle_, "plughost_abi"));
    if (abi == nullptr) {
        if (::dlsym(library->handle_, kOldEntryPoint) != nullptr) {
            throw PluginError(path +
                              ": built against plughost 0.1's C++ plugin ABI 1, but this host speaks ABI " +
                              hostAbi() + " (too old); rebuild it against this SDK");
        }
        throw PluginError(path + ": not a plughost plugin (it exports no plughost_abi)");
    }
    library->abi_ = *abi;
    if (abi->major != PLUGHOST_ABI_MAJOR || abi->minor > PLUGHOST_ABI_MINOR) {
        const bool older = abi->major < PLUGHOST_ABI_MAJOR;
        throw PluginError(path + ": built against plugin ABI " + library->abi() +
                          ", but this host speaks ABI " + hostAbi() + " (" + (older ? "too old" : "too new") +
                          "); " +
                          (older || abi->major > PLUGHOST_ABI_MAJOR
                               ? "rebuild it against this SDK"
                               : "upgrade the host or rebuild the plugin against this SDK"));
    }
    library->api_ = static_cast<const plughost_plugin_api*>(::dlsym(library->handle_, "plughost_plugin"));
    const plughost_plugin_api* api = library->api_;
    if (api == nullptr) {
        throw PluginError(path + ": exports plughost_abi but no plughost_plugin table");
    }
    if (api->size < kMinimumTableSize) {
        throw PluginError(path + ": its plughost_plugin table is " + std::to_string(api->size) +
                          " bytes, smaller than any ABI " + std::to_string(PLUGHOST_ABI_MAJOR) + " table (" +
                          std::to_string(kMinimumTableSize) + ")");
    }
    if (api->name == nullptr) {
        throw PluginError(path + ": the plugin's table has no name");
    }
    if (const std::string why = typed::nameProblem("plugin", api->name); !why.empty()) {
        throw PluginError(path + ": " + why);
    }
    if (api->version == nullptr || api->description == nullptr) {
        throw PluginError(path + ": the plugin's table lacks a version or description");
    }
    if (api->create == nullptr || api->destroy == nullptr || api->on_data == nullptr) {
        throw PluginError(path + ": the plugin's table lacks create, destroy or on_data");
    }
    return library;
}

plughost_plugin_api Library::api() const {
    plughost_plugin_api table{};
    std::memcpy(&table, api_, std::min(api_->size, sizeof table));
    table.size = sizeof table;
    return table;
}

std::string Library::abi() const { return versionText(abi_.major, abi_.minor); }

Library::~Library() {
    if (handle_ != nullptr) {
        ::dlclose(handle_);
    }
    if (memoryFile_ >= 0) {
        retireMemoryFile(memoryFile_, loadedAs_);
    }
}

Catalog Catalog::scan(const std::string& dir, const Catalog* previous) {
    Catalog catalog;
    catalog.dir_ = dir;
    std::vector<std::string> paths;
    std::error_code error;
    for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
        if (it->path().extension() == ".so" && !it->is_directory()) {
            paths.push_back(it->path().string());
        }
    }
    if (error) {
        catalog.dirProblem_ = "cannot read the plugin folder " + dir + ": " + error.message();
        return catalog;
    }
    std::sort(paths.begin(), paths.end());
    const auto real = std::filesystem::canonical(dir, error);
    const std::string folders = error ? "cannot examine the plugin folder " + dir + ": " + error.message()
                                      : trust::checkFolders(real.string(), ::geteuid());

    std::map<std::string, std::size_t> byName;
    for (const auto& path : paths) {
        Entry entry;
        entry.path = path;
        try {
            if (!folders.empty()) {
                throw PluginError(path + ": rejected: " + folders);
            }
            const std::string bytes = Library::readTrusted(path);
            entry.library = previous ? previous->reusable(path, Library::hash(bytes)) : nullptr;
            if (!entry.library) {
                entry.library = Library::load(path, bytes);
            }
            entry.name = entry.library->name();
            entry.version = entry.library->version();
            entry.description = entry.library->description();
            entry.abi = entry.library->abi();
        } catch (const PluginError& problem) {
            entry.rejection = problem.what();
            entry.library.reset();
        }
        if (entry.loaded()) {
            const auto [it, inserted] = byName.emplace(entry.name, catalog.entries_.size());
            if (!inserted) {
                Entry& first = catalog.entries_[it->second];
                const std::string clash = "plugin name '" + entry.name + "' is claimed by both " +
                                          first.path + " and " + entry.path;
                first.rejection = clash;
                first.library.reset();
                entry.rejection = clash;
                entry.library.reset();
            }
        }
        catalog.entries_.push_back(std::move(entry));
    }
    return catalog;
}

std::shared_ptr<Library> Catalog::reusable(const std::string& path, std::uint64_t contentHash) const {
    for (const auto& entry : entries_) {
        if (entry.path == path && entry.library && entry.library->contentHash() == contentHash) {
            return entry.library;
        }
    }
    return nullptr;
}

std::shared_ptr<Library> Catalog::find(const std::string& name, std::string& why) const {
    if (!dirProblem_.empty()) {
        why = dirProblem_;
        return nullptr;
    }
    std::string available;
    for (const auto& entry : entries_) {
        if (entry.name == name) {
            if (entry.loaded()) {
                return entry.library;
            }
            why = entry.rejection;
            return nullptr;
        }
        if (entry.loaded()) {
            available += (available.empty() ? "" : ", ") + entry.name;
        }
    }
    // A rejected file has no trusted name; its file name is the best guess of what it meant to be.
    for (const auto& entry : entries_) {
        if (!entry.loaded() && std::filesystem::path(entry.path).stem() == name) {
            why = entry.rejection;
            return nullptr;
        }
    }
    why = "no plugin named '" + name + "' in " + dir_ +
          " (available: " + (available.empty() ? "none" : available) + ")";
    return nullptr;
}

}  // namespace plughost::plugins
